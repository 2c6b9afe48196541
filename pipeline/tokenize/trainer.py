"""Train a sentencepiece tokenizer on a deterministic sample of a snapshot (DESIGN.md, "Tokenizer").

The sample streams into `SentencePieceTrainer.train(sentence_iterator=...)` one row group at a time: no temporary
text file. Same snapshot + same config gives a byte-identical `tokenizer.model` (fixed sample order, no trainer
shuffling, fixed thread count), and a re-run finds the finished folder and does nothing.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import numpy as np
import sentencepiece as spm

from lmforge.pipeline.configuring import to_dict
from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.errors import InputError, LmforgeError
from lmforge.pipeline.privacy.placeholders import PLACEHOLDERS
from lmforge.pipeline.stage import building, is_done, stage_dir, stage_id, write_manifest
from lmforge.pipeline.tokenize.config import BOS_ID, EOS_ID, PAD_ID, UNK_ID, TokenizerConfig, reserved_pieces
from lmforge.pipeline.tokenize.sampling import Sample, choose_sample, iter_texts, sentences, snapshot_files
from lmforge.schemas.manifest import Manifest

log = logging.getLogger(__name__)

TOKENIZER_FORMAT = "lmforge.tokenizer"
MODEL_NAME = "tokenizer.model"
VOCAB_NAME = "tokenizer.vocab"


def tokenizer_id(snapshot_id: str, config: TokenizerConfig) -> str:
    return stage_id({"snapshot": snapshot_id}, to_dict(config))


def sample_for(snapshot_dir: Path, config: TokenizerConfig) -> Sample:
    return choose_sample(
        snapshot_dir,
        sample_chars=config.sample_chars,
        heldout_fraction=config.heldout_fraction,
        report_chars=config.report_chars,
        seed=config.seed,
    )


def trainer_options(config: TokenizerConfig) -> dict:
    """The sentencepiece trainer flags; everything that changes the model is derived from `config`."""
    return {
        "model_type": config.model_type,
        "vocab_size": config.vocab_size,
        "character_coverage": config.character_coverage,
        "byte_fallback": config.byte_fallback,
        "normalization_rule_name": config.normalization,
        "split_digits": config.split_digits,
        "pad_id": PAD_ID,
        "unk_id": UNK_ID,
        "bos_id": BOS_ID,
        "eos_id": EOS_ID,
        "user_defined_symbols": list(PLACEHOLDERS),
        # Keep text as curated: no whitespace collapsing, and no dummy "▁" in front of a document, so a placeholder
        # (or any text) encodes to the same ids wherever it starts and decode(encode(x)) == x.
        "remove_extra_whitespaces": False,
        "add_dummy_prefix": False,
        "allow_whitespace_only_pieces": True,
        # "▁" (the space, escaped) is always a piece, even when the sample has no or few spaces (Chinese, Japanese):
        # byte fallback would otherwise encode a space as the bytes of "▁", which decode as "▁", not " ".
        "required_chars": "\u2581",
        "max_sentence_length": config.max_sentence_chars * 4,  # bytes; a UTF-8 character is at most 4
        "input_sentence_size": 0,  # use the whole (already capped) sample, in our order
        "shuffle_input_sentence": False,
        "num_threads": config.num_threads,
        "minloglevel": 2,
    }


def _friendly(exc: RuntimeError, snapshot_dir: Path, config: TokenizerConfig) -> LmforgeError:
    """Turn sentencepiece's internal messages into what the user should change."""
    text = str(exc)
    if m := re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)", text):
        return LmforgeError(
            f"{snapshot_dir}: the tokenizer sample is too small for vocab_size {m[1]}; "
            f"use --vocab-size {m[2]} or less, or a bigger snapshot / tokenizer.sample_chars"
        )
    if m := re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", text):
        return LmforgeError(
            f"{snapshot_dir}: vocab_size {m[1]} has no room for the {m[2]} pieces that the sample's characters "
            f"(at tokenizer.character_coverage={config.character_coverage}) and the reserved symbols take; "
            f"use --vocab-size {m[2]} or more, or lower tokenizer.character_coverage (0.98 at least)"
        )
    return LmforgeError(f"{snapshot_dir}: sentencepiece training failed: {text.splitlines()[-1] if text else exc}")


def train_tokenizer(snapshot_dir: Path, workspace: Path, config: TokenizerConfig) -> Path:
    """Train (or find) the tokenizer for `snapshot_dir` + `config`; returns `<ws>/tokenizers/<id>`."""
    snapshot_dir = Path(snapshot_dir)
    snapshot = Manifest.read(snapshot_dir)
    out = stage_dir(workspace, "tokenizers", tokenizer_id(snapshot.id, config))
    if is_done(out):
        log.info("tokenizer %s already trained; nothing to do", out.name)
        if note := vocab_shortfall(config, int(Manifest.read(out).stats.get("vocab_size", config.vocab_size))):
            log.warning("tokenizer %s: %s", out.name, note)  # said again: the re-run's user asked for that size too
        return out
    sample = sample_for(snapshot_dir, config)
    if sample.train_chars < config.min_sample_chars:
        raise InputError(
            snapshot_dir,
            f"tokenizer sample has {sample.train_chars} characters ({len(sample.train_ids)} documents), below "
            f"tokenizer.min_sample_chars={config.min_sample_chars}; use a bigger snapshot",
        )
    files = snapshot_files(snapshot_dir)
    n_sentences = 0

    def counted(stream):
        nonlocal n_sentences
        for s in stream:
            n_sentences += 1
            yield s

    texts = (text for _, text, _ in iter_texts(files, sample.train_ids))
    log.info(
        "training %s tokenizer, vocab %d, on %d docs / %d chars of snapshot %s",
        config.model_type,
        config.vocab_size,
        len(sample.train_ids),
        sample.train_chars,
        snapshot.id,
    )
    with building(out) as tmp:
        # Written through `model_writer`, not `model_prefix`: the prefix (a temporary path) would be stored in the
        # model's trainer spec and make two identical trainings differ in their bytes.
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=counted(sentences(texts, config.max_sentence_chars)),
                model_writer=model,
                **trainer_options(config),
            )
        except RuntimeError as exc:
            raise _friendly(exc, snapshot_dir, config) from exc
        (tmp / MODEL_NAME).write_bytes(model.getvalue())
        sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
        write_vocab(sp, tmp / VOCAB_NAME)
        write_manifest(
            tmp,
            format=TOKENIZER_FORMAT,
            id_=out.name,
            inputs={"snapshot": snapshot.id},
            params=to_dict(config),
            stats={
                "vocab_size": sp.vocab_size(),
                "sample_docs": len(sample.train_ids),
                "sample_chars": sample.train_chars,
                "sample_sentences": n_sentences,
                "heldout_docs": len(sample.heldout_ids),
                "snapshot_docs": sample.n_docs,
                "model_sha256": sha256_file(tmp / MODEL_NAME),
                "vocab_sha256": sha256_file(tmp / VOCAB_NAME),
            },
        )
    log.info("tokenizer %s written", out)
    if note := vocab_shortfall(config, int(Manifest.read(out).stats["vocab_size"])):
        log.warning("tokenizer %s: %s", out.name, note)
    return out


def vocab_shortfall(config: TokenizerConfig, vocab_size: int) -> str | None:
    """What to tell the user when the model has fewer pieces than `tokenizer.vocab_size`, else None.

    Only a char model comes out smaller: sentencepiece's char trainer takes vocab_size as a cap (one piece per
    distinct sample character, at most vocab_size; its `hard_vocab_limit`, which makes unigram and BPE fail with
    "Vocabulary size too high", does not apply to char). That is what sentencepiece users expect, so it is no error,
    and the size is fixed by the sample; but the model, the shards and every trained embedding have this size, not
    the one asked for, so the log and the tokenizer report say so."""
    if vocab_size >= config.vocab_size:
        return None
    return (
        f"{config.model_type} model has {vocab_size} pieces, fewer than tokenizer.vocab_size {config.vocab_size}: "
        f"the sample has only {vocab_size - reserved_pieces(config.byte_fallback)} distinct characters (at "
        f"character_coverage {config.character_coverage:g}) beside the {reserved_pieces(config.byte_fallback)} "
        f"reserved pieces; the model, the shards and training use {vocab_size} (use --vocab-size {vocab_size} to "
        "ask for what you get, or a larger snapshot for more characters)"
    )


def write_vocab(sp: spm.SentencePieceProcessor, path: Path) -> None:
    """`piece<TAB>score` per line, in id order: the `.vocab` file sentencepiece itself writes (C++ `%g` scores)."""
    lines = (f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(sp.vocab_size()))
    path.write_text("".join(lines), encoding="utf-8")


#: sentencepiece's escaped space. Decoding turns every "▁" piece character into " ", so one spelled in the text itself
#: came back as a space; `encode_exact` writes it as its UTF-8 byte pieces instead, which decode as "▁".
SPACE_SYMBOL = "\u2581"


def encode_exact(sp: spm.SentencePieceProcessor, texts: list[str], num_threads: int = 1) -> list[np.ndarray]:
    """Ids (int32 arrays) of `texts` such that `sp.decode(ids) == text` also for text that spells "▁" (U+2581).

    Plain `sp.encode` except for such texts: they are encoded between the "▁"s, each "▁" written as the byte pieces
    <0xE2><0x96><0x81>. A model without byte fallback has no such pieces, and one with a dummy prefix would put a
    "▁" before each part: their ids stay as `sp.encode` gives them."""
    ids = sp.encode(texts, out_type="numpy", num_threads=num_threads)
    if not any(SPACE_SYMBOL in t for t in texts):
        return ids
    raw = [sp.piece_to_id(f"<0x{b:02X}>") for b in SPACE_SYMBOL.encode("utf-8")]
    if not all(sp.is_byte(i) for i in raw):
        return ids
    space = np.array(raw, dtype=np.int32)
    for k, text in enumerate(texts):
        if SPACE_SYMBOL in text:
            segments = sp.encode(text.split(SPACE_SYMBOL), out_type="numpy")
            pieces = [segments[0]]
            for seg in segments[1:]:
                pieces += [space, seg]
            exact = np.concatenate(pieces).astype(np.int32, copy=False)
            # a model with a dummy prefix (not lmforge's) puts a "▁" before every segment: keep `encode` then
            if sp.decode(exact.tolist()) == text:
                ids[k] = exact
    return ids


def load_tokenizer(tokenizer_dir: Path) -> spm.SentencePieceProcessor:
    """Load a finished tokenizer, checking the model file against its manifest digest."""
    from lmforge.pipeline.errors import IntegrityError

    tokenizer_dir = Path(tokenizer_dir)
    manifest = Manifest.read(tokenizer_dir)
    path = tokenizer_dir / MODEL_NAME
    expected = manifest.stats.get("model_sha256")
    if not path.is_file():
        raise IntegrityError(f"{path}: missing; the tokenizer folder is damaged, train it again")
    if expected and sha256_file(path) != expected:
        raise IntegrityError(f"{path}: sha256 differs from the tokenizer manifest; the file was changed or damaged")
    return spm.SentencePieceProcessor(model_file=str(path))


def tokenizer_sha256(tokenizer_dir: Path) -> str:
    """Digest of the model file: what shard headers record."""
    from lmforge.pipeline.errors import IntegrityError

    manifest = Manifest.read(tokenizer_dir)
    if manifest.format != TOKENIZER_FORMAT:  # another stage's folder, given where a tokenizer's was meant
        raise IntegrityError(f"{tokenizer_dir}: manifest format {manifest.format!r} is not {TOKENIZER_FORMAT!r}")
    if recorded := manifest.stats.get("model_sha256"):
        return recorded
    path = Path(tokenizer_dir) / MODEL_NAME
    if not path.is_file():
        raise IntegrityError(f"{path}: missing; the tokenizer folder is damaged, train it again")
    return sha256_file(path)
