"""What a tokenizer is like on text it was not trained on: compression per language, fallback rates, top pieces.

Only counts and vocabulary pieces leave this module (pieces are vocabulary entries, not document text), so the
report may go to Prefect artifacts and MLflow.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from itertools import chain
from pathlib import Path

import numpy as np

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import IntegrityError
from lmforge.pipeline.tokenize.config import UNK_ID, TokenizerConfig
from lmforge.pipeline.tokenize.sampling import iter_texts, snapshot_files
from lmforge.pipeline.tokenize.trainer import (
    TOKENIZER_FORMAT,
    encode_exact,
    load_tokenizer,
    sample_for,
    vocab_shortfall,
)
from lmforge.schemas.manifest import Manifest

log = logging.getLogger(__name__)

TOP_PIECES = 50
_BATCH = 256


def tokenizer_report(tokenizer_dir: Path, snapshot_dir: Path) -> dict:
    """Encode the held-out documents of `snapshot_dir` and summarise: vocab size, chars/token and bytes/token per
    language, unknown and byte-fallback rates, and the most frequent pieces."""
    manifest = Manifest.read(tokenizer_dir)
    if manifest.format != TOKENIZER_FORMAT:
        raise IntegrityError(f"{tokenizer_dir}: manifest format {manifest.format!r} is not {TOKENIZER_FORMAT!r}")
    config = from_dict(TokenizerConfig, manifest.params, where=f"{tokenizer_dir}/manifest.json params")
    sp = load_tokenizer(tokenizer_dir)
    sample = sample_for(Path(snapshot_dir), config)
    is_byte = np.array([sp.is_byte(i) for i in range(sp.vocab_size())], dtype=bool)
    counts = np.zeros(sp.vocab_size(), dtype=np.int64)
    per_lang: dict[str, Counter] = defaultdict(Counter)

    def flush(batch: list[tuple[str, str]]) -> None:
        encoded = encode_exact(sp, [t for t, _ in batch])  # the ids the shards hold
        for (text, lang), ids in zip(batch, encoded, strict=True):
            stats = per_lang[lang]
            stats["docs"] += 1
            stats["chars"] += len(text)
            stats["bytes"] += len(text.encode("utf-8"))
            stats["tokens"] += len(ids)
        flat = np.fromiter(chain.from_iterable(encoded), dtype=np.int64)
        counts[:] += np.bincount(flat, minlength=len(counts))

    batch: list[tuple[str, str]] = []
    for _, text, lang in iter_texts(snapshot_files(Path(snapshot_dir)), sample.heldout_ids):
        batch.append((text, lang))
        if len(batch) == _BATCH:
            flush(batch)
            batch = []
    if batch:
        flush(batch)

    total = int(counts.sum())
    languages = {
        lang: {
            "docs": s["docs"],
            "chars": s["chars"],
            "bytes": s["bytes"],
            "tokens": s["tokens"],
            "chars_per_token": round(s["chars"] / s["tokens"], 4) if s["tokens"] else None,
            "bytes_per_token": round(s["bytes"] / s["tokens"], 4) if s["tokens"] else None,
        }
        for lang, s in sorted(per_lang.items())
    }
    order = np.argsort(-counts, kind="stable")[:TOP_PIECES]
    heldout_docs = sum(s["docs"] for s in per_lang.values())
    warnings = [note] if (note := vocab_shortfall(config, sp.vocab_size())) else []
    if not total:
        warnings.append(_no_heldout(heldout_docs, sample.n_docs, config))
        log.warning("tokenizer %s on snapshot %s: %s", manifest.id, Path(snapshot_dir).name, warnings[-1])
    return {
        "tokenizer": manifest.id,
        "snapshot": manifest.inputs.get("snapshot"),
        "vocab_size": sp.vocab_size(),
        "requested_vocab_size": config.vocab_size,
        "model_type": config.model_type,
        "warnings": warnings,
        "heldout_snapshot": Manifest.read(snapshot_dir).id,
        "heldout_docs": heldout_docs,
        "heldout_tokens": total,
        "unk_rate": round(int(counts[UNK_ID]) / total, 6) if total else None,
        "byte_fallback_rate": round(int(counts[is_byte].sum()) / total, 6) if total else None,
        "languages": languages,
        "top_pieces": [
            {"piece": sp.id_to_piece(int(i)), "id": int(i), "count": int(counts[i])} for i in order if counts[i]
        ],
    }


def _no_heldout(heldout_docs: int, n_docs: int, config: TokenizerConfig) -> str:
    """Why the report's rates are empty: no document was held out (or the held-out ones have no text)."""
    if heldout_docs:
        return (
            f"the {heldout_docs} held-out documents hold no text: the rates and compression figures of this report "
            "measure nothing"
        )
    return (
        f"no held-out documents (snapshot of {n_docs} documents, tokenizer.heldout_fraction "
        f"{config.heldout_fraction:g}, all of them in the training sample): the rates and compression figures of "
        "this report measure nothing; raise tokenizer.heldout_fraction or use a bigger snapshot"
    )


def report_markdown(report: dict) -> str:
    """The report as Markdown (Prefect artifact, MLflow text artifact)."""
    # `lmforge tokenizer report --snapshot` measures on another snapshot than the one it was trained on
    measured = report.get("heldout_snapshot", report["snapshot"])
    of = f" (of snapshot `{measured}`)" if measured != report["snapshot"] else ""
    lines = [
        f"# Tokenizer `{report['tokenizer']}`",
        "",
        f"- snapshot: `{report['snapshot']}`, model type: {report['model_type']}, vocab size: {report['vocab_size']}",
        f"- held-out documents{of}: {report['heldout_docs']}, tokens: {report['heldout_tokens']}",
        f"- unknown rate: {report['unk_rate']}, byte-fallback rate: {report['byte_fallback_rate']}",
        *(f"- **warning**: {w}" for w in report.get("warnings", [])),
        "",
        "| language | docs | chars/token | bytes/token | tokens |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for lang, s in report["languages"].items():
        lines.append(f"| {lang} | {s['docs']} | {s['chars_per_token']} | {s['bytes_per_token']} | {s['tokens']} |")
    lines += [
        "",
        f"## {len(report['top_pieces'])} most frequent pieces",
        "",
        "| piece | id | count |",
        "| --- | ---: | ---: |",
    ]
    for p in report["top_pieces"]:
        shown = p["piece"].replace("|", "\\|").replace("`", "\\`")
        lines.append(f"| `{shown}` | {p['id']} | {p['count']} |")
    return "\n".join(lines) + "\n"
