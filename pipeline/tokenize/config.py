"""Tokenizer and token-shard configuration: `[tokenizer]` and `[shards]` in the run's TOML file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lmforge.pipeline.configuring import INT64_MAX, check, check_whole
from lmforge.pipeline.privacy.placeholders import PLACEHOLDERS

#: Fixed ids of the special symbols; the shard format and the trainer rely on them.
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
N_SPECIAL = 4
#: Byte-fallback pieces `<0x00>` … `<0xFF>` that sentencepiece adds when `byte_fallback` is on.
N_BYTE_PIECES = 256

ModelType = Literal["unigram", "bpe", "char", "word"]


def reserved_pieces(byte_fallback: bool) -> int:
    """Vocabulary entries taken before any learned piece: specials, placeholders and (optionally) the 256 bytes."""
    return N_SPECIAL + len(PLACEHOLDERS) + (N_BYTE_PIECES if byte_fallback else 0)


@dataclass(kw_only=True, slots=True, frozen=True)
class TokenizerConfig:
    """How the sentencepiece model is trained. Every field goes into the tokenizer id: change one, get a new model."""

    vocab_size: int = 8000
    """Vocabulary size, special symbols, placeholders and byte pieces included."""
    model_type: ModelType = "unigram"
    """sentencepiece algorithm; unigram is its default (Kudo 2018) and what T5/ALBERT/XLNet use. `word` is refused:
    sentencepiece's word model cuts at whitespace before matching user-defined symbols, so a placeholder is not one
    reserved token there ("x<EMAIL>y" goes to bytes), and an out-of-vocabulary word decodes with a literal "▁"."""
    character_coverage: float = 0.9995
    """Share of sample characters that must be covered by pieces; 0.9995 is sentencepiece's advice for CJK-rich text
    (sentencepiece README, "character_coverage"), and 0.98 the least it accepts; rarer characters go through byte
    fallback."""
    byte_fallback: bool = True
    """Encode characters outside the vocabulary as UTF-8 byte pieces instead of `<unk>` (as Llama does), so every
    text round-trips exactly."""
    normalization: str = "identity"
    """sentencepiece normalisation rule. `identity` keeps the text exactly as curated (the curate stage already
    normalised it); `nfkc` or `nmt_nfkc` make decode(encode(x)) differ from x for some inputs."""
    split_digits: bool = True
    """Split numbers into single digits, as Llama and PaLM do (Chowdhery et al. 2022, §2), so arithmetic sees digits."""
    sample_chars: int = 20_000_000
    """Cap on the characters of the training sample (documents are taken in stable-hash order of `doc_id`)."""
    min_sample_chars: int = 10_000
    """A sample smaller than this is an error: the pieces learned from it would be noise."""
    heldout_fraction: float = 0.02
    """Share of documents (by stable hash of `doc_id`) never used for training, kept for the tokenizer report."""
    report_chars: int = 2_000_000
    """Cap on the held-out characters the tokenizer report encodes."""
    max_sentence_chars: int = 2048
    """Lines are sentences; longer lines are cut into pieces of at most this many characters."""
    num_threads: int = 4
    """Trainer threads. Part of the id because sentencepiece's result depends on the thread count (measured)."""
    seed: int = 0
    """Salt of the stable document hashes that choose the sample and the held-out set."""

    def __post_init__(self) -> None:
        check_whole(self.seed, "tokenizer.seed", 0, INT64_MAX)  # as dedup.seed and train.seed
        reserved = reserved_pieces(self.byte_fallback)
        check(
            self.vocab_size > reserved,
            "tokenizer.vocab_size",
            f"{self.vocab_size} leaves no room for learned pieces: {N_SPECIAL} special symbols + "
            f"{len(PLACEHOLDERS)} placeholders"
            + (f" + {N_BYTE_PIECES} byte pieces" if self.byte_fallback else "")
            + f" = {reserved}; use at least {reserved + 1} (a few thousand in practice)",
        )
        check(
            self.model_type != "word",
            "tokenizer.model_type",
            "'word' cannot keep each privacy placeholder as one token (sentencepiece splits words before it matches "
            "user-defined symbols); use unigram, bpe or char",
        )
        check(self.vocab_size <= 1 << 31, "tokenizer.vocab_size", "must fit a uint32 token id")
        check(
            0.98 <= self.character_coverage <= 1.0,
            "tokenizer.character_coverage",
            f"{self.character_coverage} is outside [0.98, 1.0], the range sentencepiece accepts",
        )
        check(
            self.normalization in ("identity", "nfkc", "nmt_nfkc", "nfkc_cf", "nmt_nfkc_cf"),
            "tokenizer.normalization",
            f"{self.normalization!r} is not a sentencepiece rule (identity, nfkc, nmt_nfkc, nfkc_cf, nmt_nfkc_cf)",
        )
        check(self.sample_chars > 0, "tokenizer.sample_chars", "must be positive")
        check(self.min_sample_chars > 0, "tokenizer.min_sample_chars", "must be positive")
        check(
            self.min_sample_chars <= self.sample_chars,
            "tokenizer.min_sample_chars",
            f"{self.min_sample_chars} must be ≤ tokenizer.sample_chars ({self.sample_chars}): raise sample_chars or "
            "lower min_sample_chars",
        )
        check(0.0 <= self.heldout_fraction < 0.5, "tokenizer.heldout_fraction", "must be in [0, 0.5)")
        check(self.report_chars > 0, "tokenizer.report_chars", "must be positive")
        check(16 <= self.max_sentence_chars <= 65536, "tokenizer.max_sentence_chars", "must be in [16, 65536]")
        check(1 <= self.num_threads <= 256, "tokenizer.num_threads", "must be in [1, 256]")


@dataclass(kw_only=True, slots=True, frozen=True)
class ShardsConfig:
    """How a snapshot is encoded into token shards."""

    val_fraction: float = 0.05
    """Share of documents (by stable hash of doc_id) that go to the validation split (at least one when there are
    two or more documents, and never all of them: the train split always gets one)."""
    shard_tokens: int = 100_000_000
    """Target tokens per shard file; a shard is closed at the first document boundary past it (100 M as in
    Karpathy's build-nanogpt FineWeb shards)."""
    add_bos: bool = False
    """Write `<s>` before every document (EOS `</s>` always follows every document)."""
    seed: int = 0
    """Salt of the stable hash of doc_id that assigns the train/val split."""

    def __post_init__(self) -> None:
        check(0.0 <= self.val_fraction <= 0.5, "shards.val_fraction", "must be in [0, 0.5]")
        check(self.shard_tokens >= 1, "shards.shard_tokens", "must be positive")
        check_whole(self.seed, "shards.seed", 0, INT64_MAX)  # as dedup.seed and train.seed
