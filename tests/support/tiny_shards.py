"""Tiny real token shards for model/evaluation tests: a sentencepiece model trained on stdlib docstrings (English)
plus a few French paragraphs (tests/data/train/corpus.jsonl), and train/val shards in the schemas/shards.py format
with their `.docs.parquet` tables. Built once per test session; takes about a second."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from lmforge.schemas.shards import ShardHeader, dtype_for_vocab

CORPUS = Path(__file__).resolve().parents[1] / "data" / "train" / "corpus.jsonl"
VOCAB_SIZE = 320


@dataclass(frozen=True)
class TinyShards:
    shards_dir: Path
    tokenizer: Path
    vocab_size: int
    eos_id: int


def read_corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def train_tokenizer(folder: Path, vocab_size: int = VOCAB_SIZE, lmforge_like: bool = False) -> Path:
    """A small unigram tokenizer of the test corpus; `lmforge_like`: with byte fallback and no dummy prefix, as
    `pipeline.tokenize.trainer` makes them."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "corpus.txt"
    text.write_text("\n".join(d["text"].replace("\n", " ") for d in read_corpus()) + "\n", encoding="utf-8")
    prefix = folder / "tokenizer"
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        num_threads=1,
        bos_id=-1,
        eos_id=1,
        unk_id=0,
        pad_id=-1,
        byte_fallback=lmforge_like,
        add_dummy_prefix=not lmforge_like,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def write_shard(path: Path, docs: list[tuple[list[int], int, str]], vocab_size: int, tokenizer_sha: str) -> None:
    """docs: (token ids including the trailing EOS, UTF-8 bytes of the text, lang)."""
    tokens = np.concatenate([np.asarray(ids, dtype=np.int64) for ids, _, _ in docs]) if docs else np.zeros(0)
    dtype = dtype_for_vocab(vocab_size)
    header = ShardHeader(len(tokens), len(docs), dtype.itemsize, tokenizer_sha)
    path.write_bytes(header.pack() + tokens.astype(dtype).tobytes())
    lengths = [len(ids) for ids, _, _ in docs]
    table = pa.table(
        {
            "offset": pa.array(np.cumsum([0, *lengths[:-1]]) if docs else [], type=pa.int64()),
            "n_tokens": pa.array(lengths, type=pa.int32()),
            "n_bytes": pa.array([b for _, b, _ in docs], type=pa.int64()),
            "lang": pa.array([lang for _, _, lang in docs], type=pa.string()),
        }
    )
    pq.write_table(table, path.with_name(path.stem + ".docs.parquet"))


def build(folder: Path) -> TinyShards:
    """Every 5th document (and every 3rd French one) goes to val; the rest to train."""
    import sentencepiece as spm

    tok = train_tokenizer(folder / "tokenizer")
    sp = spm.SentencePieceProcessor(model_file=str(tok))
    sha = hashlib.sha256(tok.read_bytes()).hexdigest()
    splits: dict[str, list] = {"train": [], "val": []}
    n_fr = 0
    for i, doc in enumerate(read_corpus()):
        ids = sp.encode(doc["text"], out_type=int) + [sp.eos_id()]
        is_val = (n_fr % 3 == 0) if doc["lang"] == "fr" else (i % 5 == 0)
        n_fr += doc["lang"] == "fr"
        splits["val" if is_val else "train"].append((ids, len(doc["text"].encode("utf-8")), doc["lang"]))
    shards = folder / "shards"
    shards.mkdir()
    for split, docs in splits.items():
        write_shard(shards / f"{split}-00000.bin", docs, sp.vocab_size(), sha)
    return TinyShards(shards, tok, sp.vocab_size(), sp.eos_id())


def train_steps(model: torch.nn.Module, tokens: np.ndarray, steps: int, seq_len: int = 32) -> list[float]:
    """Plain AdamW on random windows of real tokens; returns the loss of every step."""
    rng = np.random.default_rng(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(steps):
        starts = rng.integers(0, len(tokens) - seq_len - 1, size=8)
        chunk = torch.from_numpy(np.stack([tokens[s : s + seq_len + 1] for s in starts]))
        _, loss = model(chunk[:, :-1], chunk[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
