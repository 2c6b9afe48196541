"""Held-out evaluation on token shards: loss, perplexity and bits per byte, overall and per language.

Bits per byte (total NLL / ln 2 / UTF-8 bytes) does not depend on the tokenizer, so models with different
vocabularies compare fairly (as in the Pile, Gao et al. 2020, section 4, and Chinchilla's bpb tables).
The unigram baseline answers "has the model learned anything beyond token frequencies?".
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from lmforge.pipeline.errors import ConfigError, InputError, IntegrityError, LmforgeError, NotFoundError
from lmforge.schemas.manifest import MANIFEST_NAME, Manifest
from lmforge.schemas.shards import open_tokens, read_header

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Shard:
    """One shard's tokens and its per-document table (offset, n_tokens, n_bytes, lang)."""

    path: Path
    tokens: np.ndarray
    offsets: np.ndarray
    n_tokens: np.ndarray
    n_bytes: np.ndarray
    langs: list[str]


def shard_paths(shards_dir: Path, split: str) -> list[Path]:
    """The `<split>-NNNNN.bin` files of a shards folder, in name order: those its manifest lists (a file gone from
    disk is then an error when it is opened, not a pass over fewer shards), or those on disk in a folder without
    one."""
    shards_dir = Path(shards_dir)
    if (shards_dir / MANIFEST_NAME).is_file():
        files = Manifest.read(shards_dir).files
        paths = sorted(shards_dir / f.path for f in files if f.path.startswith(f"{split}-") and f.path.endswith(".bin"))
    else:
        paths = sorted(shards_dir.glob(f"{split}-*.bin"))
    if not paths:
        why = " (shards built with shards.val_fraction = 0 have none)" if split == "val" else ""
        raise NotFoundError(f"{shards_dir}: no {split}-*.bin token shards{why}; check the shards id and the split")
    return paths


def _load(path: Path, expect_tokenizer: str | None = None) -> _Shard:
    docs_path = path.with_name(path.stem + ".docs.parquet")
    if not docs_path.is_file():
        raise InputError(docs_path, "missing: every token shard needs its .docs.parquet document table")
    table = pq.read_table(docs_path, columns=["offset", "n_tokens", "n_bytes", "lang"])
    header = read_header(path, expect_tokenizer)
    tokens = open_tokens(path, expect_tokenizer)
    offsets = table.column("offset").to_numpy().astype(np.int64)
    n_tokens = table.column("n_tokens").to_numpy().astype(np.int64)
    if len(offsets) and (np.any(np.diff(offsets) < 0) or offsets[-1] + n_tokens[-1] > len(tokens)):
        raise InputError(docs_path, f"document offsets are unsorted or run past the {len(tokens)} tokens of {path}")
    # The documents must tile the shard exactly, as the writer leaves them: with rows missing (a table cut short, or
    # one of another build) the tokens past the last row were all charged to that row's document and language, and
    # bits per byte divided by too few bytes, silently.
    ends = np.cumsum(n_tokens)
    if len(offsets) != header.doc_count or int(ends[-1] if len(ends) else 0) != len(tokens):
        raise IntegrityError(
            f"{docs_path}: {len(offsets)} documents of {int(ends[-1] if len(ends) else 0)} tokens, but {path.name} "
            f"holds {header.doc_count} documents of {len(tokens)} tokens; the table belongs to another build or was "
            "cut short: rebuild the shards"
        )
    if len(offsets) and (offsets[0] != 0 or np.any(offsets[1:] != ends[:-1])):
        raise IntegrityError(
            f"{docs_path}: document offsets do not follow each other's lengths through {path.name}; rebuild the shards"
        )
    langs = [lang or "unknown" for lang in table.column("lang").to_pylist()]
    return _Shard(path, tokens, offsets, n_tokens, table.column("n_bytes").to_numpy().astype(np.int64), langs)


def _doc_of(shard: _Shard, positions: np.ndarray) -> np.ndarray:
    """Index of the document each token position belongs to (positions before the first document go to it)."""
    return np.clip(np.searchsorted(shard.offsets, positions, side="right") - 1, 0, None)


def summarize(nll: np.ndarray, scored: np.ndarray, shards: list[_Shard]) -> dict[str, Any]:
    """Per-document NLL sums (nats) and scored-token counts → overall and per-language loss, ppl, bpb.

    A document's bytes count in proportion to the share of its tokens that were scored, so a partial pass
    (max_batches) and the shard's first token (which has no context) do not skew bits per byte.
    """
    n_tokens = np.concatenate([s.n_tokens for s in shards])
    n_bytes = np.concatenate([s.n_bytes for s in shards])
    langs = [lang for s in shards for lang in s.langs]
    frac = np.divide(scored, n_tokens, out=np.zeros(len(scored)), where=n_tokens > 0)
    byts = n_bytes * np.minimum(frac, 1.0)

    def metrics(mask: np.ndarray) -> dict[str, float]:
        total, count, nbytes = float(nll[mask].sum()), int(scored[mask].sum()), float(byts[mask].sum())
        loss = total / count if count else float("nan")
        return {
            "loss": loss,
            # a finite loss past ~709 nats (a diverged model's) overflowed math.exp: an OverflowError traceback
            "ppl": (math.exp(loss) if loss < 709.0 else math.inf) if count else float("nan"),
            "bpb": total / math.log(2) / nbytes if nbytes else float("nan"),
            "nll": total,
            "tokens": count,
            "bytes": nbytes,
        }

    out: dict[str, Any] = metrics(np.ones(len(nll), dtype=bool))
    lang_arr = np.array(langs, dtype=object)
    # languages with a scored token: a partial pass (max_batches) may reach none of a language's documents, whose row
    # would be all NaN
    per_lang = {lang: metrics(lang_arr == lang) for lang in sorted(set(langs))}
    out["per_lang"] = {lang: m for lang, m in per_lang.items() if m["tokens"]}
    return out


def _windows(n: int, seq_len: int) -> list[tuple[int, int]]:
    """Non-overlapping (start, length) input windows over a stream of n tokens; each predicts tokens start+1 ..
    start+length, so together they score every token but the first."""
    return [(s, min(seq_len, n - 1 - s)) for s in range(0, n - 1, seq_len)]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    shards_dir: Path,
    split: str = "val",
    *,
    batch_size: int = 8,
    seq_len: int = 256,
    device: str = "cpu",
    max_batches: int | None = None,
    expect_tokenizer: str | None = None,
) -> dict[str, Any]:
    """Score the `split` shards with `model` over fixed windows of the token stream, deterministically.

    Returns {loss, ppl, bpb, nll, tokens, bytes, per_lang: {lang: same keys}, batches, split, seq_len}; loss is the
    mean NLL per token in nats, seq_len the window length used (`seq_len` capped at the model's context). Each
    predicted token is attributed to its document (and language) by the offsets in the `.docs.parquet` table.
    Context is cut at window edges, as in training. `expect_tokenizer` (sha256 of the model's sentencepiece file)
    makes shards cut by another tokenizer an IntegrityError instead of garbage numbers.
    """
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("max_batches", max_batches)):
        # 0 scored nothing and reported NaN as if it were a result (seq_len 0: a bare ValueError from range())
        if value is not None and value < 1:
            raise ConfigError(f"evaluate: {name} must be ≥ 1, got {value}")
    block = getattr(model, "block_size", None)
    seq_len = min(seq_len, block) if block else seq_len
    vocab = getattr(model, "vocab_size", None)
    shards = [_load(p, expect_tokenizer) for p in shard_paths(Path(shards_dir), split)]
    nll_parts, scored_parts = [], []
    scored_to: list[int] = []  # per shard, the end of the scored positions (full windows go in order, from 1)
    batches = 0
    was_training = model.training
    model.eval()
    try:
        for shard in shards:
            nll_doc = np.zeros(len(shard.offsets))
            scored_doc = np.zeros(len(shard.offsets), dtype=np.int64)
            scored_to.append(1)
            windows = _windows(len(shard.tokens), seq_len)
            # Full windows batch together; the shorter last one goes alone.
            groups = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
            groups = [[w for w in g if w[1] == seq_len] for g in groups] + [[w] for w in windows if w[1] != seq_len]
            for group in (g for g in groups if g):
                if max_batches is not None and batches >= max_batches:
                    break
                length = group[0][1]
                chunk = np.stack([np.asarray(shard.tokens[s : s + length + 1], dtype=np.int64) for s, _ in group])
                _check_vocab(chunk, vocab, shard.path)
                x = torch.from_numpy(chunk[:, :-1]).to(device)  # (B, T)
                y = torch.from_numpy(chunk[:, 1:]).to(device)  # (B, T)
                logits, _ = model(x)  # (B, T, V)
                nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none")
                positions = np.concatenate([np.arange(s + 1, s + 1 + length) for s, _ in group])
                docs = _doc_of(shard, positions)
                nll_doc += np.bincount(docs, weights=nll.double().cpu().numpy(), minlength=len(nll_doc))
                scored_doc += np.bincount(docs, minlength=len(scored_doc))
                scored_to[-1] = max(scored_to[-1], int(positions[-1]) + 1)
                batches += 1
            nll_parts.append(nll_doc)
            scored_parts.append(scored_doc)
    finally:
        model.train(was_training)
    out = summarize(np.concatenate(nll_parts), np.concatenate(scored_parts), shards)
    if not out["tokens"]:
        # NaN loss/bpb came back as if it were a result: the registry called it weights that are not finite
        raise InputError(
            shards_dir,
            f"the {split} split holds no token to score ({sum(len(s.tokens) for s in shards)} token(s) in "
            f"{len(shards)} shard(s); a window needs 2 of one shard): rebuild the shards with more text or a larger "
            "shards.val_fraction",
        )
    out.update(batches=batches, split=split, seq_len=seq_len)
    if max_batches is not None and any(end < len(s.tokens) for end, s in zip(scored_to, shards, strict=True)):
        out["scored_to"] = scored_to  # a part of the split: `unigram_baseline(scored_to=…)` scores the same part
    log.info(
        "evaluated %s: %d tokens in %d batches, loss %.4f, bpb %.4f",
        split,
        out["tokens"],
        batches,
        out["loss"],
        out["bpb"],
    )
    return out


def _check_vocab(chunk: np.ndarray, vocab: int | None, path: Path) -> None:
    """Token ids the model has no embedding for crash it (an IndexError; a device-side assert on a GPU): name the
    shard instead. Shards cut by another tokenizer are caught by the sha256 check when the model's is known."""
    if vocab is not None and chunk.size and int(chunk.max()) >= vocab:
        raise IntegrityError(
            f"{path}: holds token id {int(chunk.max())}, past the model's vocabulary of {vocab}: these shards were "
            "cut by another tokenizer than the model's (or are damaged); evaluate on shards of the model's tokenizer"
        )


def _vocab_size(shards_dir: Path, seen_max: int) -> int:
    """The vocabulary size from the shards manifest when it records one, else the largest id seen + 1."""
    try:
        from lmforge.schemas.manifest import Manifest

        manifest = Manifest.read(shards_dir)
        for section in (manifest.params, manifest.stats, manifest.inputs):
            if isinstance(section, dict) and isinstance(section.get("vocab_size"), int):
                return max(int(section["vocab_size"]), seen_max + 1)
    except LmforgeError:  # no or foreign manifest: fall back to what the data shows
        pass
    return seen_max + 1


def unigram_baseline(
    shards_dir: Path, split: str = "val", *, vocab_size: int | None = None, scored_to: list[int] | None = None
) -> dict[str, Any]:
    """Fit token frequencies on the train split with add-one (Laplace) smoothing and score `split` with them.

    Same keys as `evaluate`. Every token is scored (a unigram needs no context), or with `scored_to` (what `evaluate`
    returns when `max_batches` stopped it early) the same positions as the model: 1 .. scored_to[i] - 1 of shard i,
    so that the two are compared on the same tokens. The vocabulary size for the smoothing comes from `vocab_size`,
    else the shards manifest, else the largest id seen.
    """
    shards_dir = Path(shards_dir)
    train = [open_tokens(p) for p in shard_paths(shards_dir, "train")]
    shards = [_load(p) for p in shard_paths(shards_dir, split)]
    seen_max = max(int(t.max()) for t in [*train, *(s.tokens for s in shards)] if len(t))
    v = vocab_size or _vocab_size(shards_dir, seen_max)
    counts = np.ones(v, dtype=np.float64)
    for tokens in train:
        counts += np.bincount(np.asarray(tokens, dtype=np.int64), minlength=v)[:v]
    neg_logp = np.log(counts.sum()) - np.log(counts)  # (V,)
    nll_parts, scored_parts = [], []
    for i, shard in enumerate(shards):
        tokens = np.asarray(shard.tokens, dtype=np.int64)
        positions = np.arange(len(tokens)) if scored_to is None else np.arange(1, scored_to[i])
        docs = _doc_of(shard, positions)
        nll_parts.append(np.bincount(docs, weights=neg_logp[tokens[positions]], minlength=len(shard.offsets)))
        scored_parts.append(np.bincount(docs, minlength=len(shard.offsets)))
    out = summarize(np.concatenate(nll_parts), np.concatenate(scored_parts), shards)
    out.update(split=split, vocab_size=v)
    return out
