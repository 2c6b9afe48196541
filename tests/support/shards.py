"""Tiny real token shards for training tests: stdlib docstrings, a sentencepiece model trained on them (vocab 300),
and a workspace laid out as the real stages leave it (`<ws>/tokenizers/<id>/`, `<ws>/shards/<id>/`)."""

from __future__ import annotations

import functools
import importlib
import inspect
import io
from pathlib import Path

import numpy as np

from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.stage import write_manifest
from lmforge.schemas.shards import ShardHeader, dtype_for_vocab

MODULES = (
    "json",
    "pathlib",
    "collections",
    "functools",
    "itertools",
    "argparse",
    "logging",
    "typing",
    "textwrap",
    "string",
    "shutil",
    "tempfile",
    "random",
    "statistics",
    "fractions",
    "decimal",
    "heapq",
    "bisect",
)
VOCAB = 300
EOS = 3


@functools.cache
def documents() -> tuple[str, ...]:
    """Docstrings of a few stdlib modules and their public members, in a fixed order."""
    docs = []
    for name in MODULES:
        module = importlib.import_module(name)
        for obj in [module, *(getattr(module, a) for a in sorted(dir(module)) if not a.startswith("_"))]:
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 40 and doc not in docs:
                docs.append(doc)
    return tuple(docs)


@functools.cache
def tokenizer_bytes() -> bytes:
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(line for d in documents() for line in d.splitlines() if line.strip()),
        model_writer=out,
        vocab_size=VOCAB,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        num_threads=1,
        minloglevel=2,
        character_coverage=1.0,
    )
    return out.getvalue()


@functools.cache
def encoded() -> tuple[np.ndarray, ...]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=tokenizer_bytes())
    return tuple(np.array(ids + [EOS], dtype=np.int64) for ids in sp.encode(list(documents())))


def _write_shard(path: Path, docs: list[np.ndarray], sha: str) -> int:
    tokens = np.concatenate(docs).astype(dtype_for_vocab(VOCAB))
    header = ShardHeader(token_count=len(tokens), doc_count=len(docs), itemsize=tokens.itemsize, tokenizer_sha256=sha)
    path.write_bytes(header.pack() + tokens.tobytes())
    return len(tokens)


def make_shards(workspace: Path, *, train_shards: int = 2, val_every: int = 10) -> Path:
    """Write a tokenizer and shards folder into `workspace`; returns the shards folder. Every `val_every`-th
    document goes to val; the train documents are spread over `train_shards` files (windows cross the seams)."""
    tok_id, shards_id = "tok0000000000000", "shards0000000000"
    tok_dir = workspace / "tokenizers" / tok_id
    tok_dir.mkdir(parents=True, exist_ok=True)
    (tok_dir / "tokenizer.model").write_bytes(tokenizer_bytes())
    write_manifest(
        tok_dir,
        format="lmforge.tokenizer",
        id_=tok_id,
        inputs={"snapshot": "test"},
        params={"vocab_size": VOCAB},
        stats={},
    )
    sha = sha256_file(tok_dir / "tokenizer.model")
    docs = encoded()
    val = [d for i, d in enumerate(docs) if i % val_every == 0]
    train = [d for i, d in enumerate(docs) if i % val_every != 0]
    out = workspace / "shards" / shards_id
    out.mkdir(parents=True, exist_ok=True)
    counts = {"val-00000.bin": {"tokens": _write_shard(out / "val-00000.bin", val, sha)}}
    for k, part in enumerate(np.array_split(np.arange(len(train)), train_shards)):
        name = f"train-{k:05d}.bin"
        counts[name] = {"tokens": _write_shard(out / name, [train[i] for i in part], sha)}
    write_manifest(
        out,
        format="lmforge.shards",
        id_=shards_id,
        inputs={"tokenizer": tok_id, "snapshot": "test"},
        params={"vocab_size": VOCAB},
        stats={},
        counts=counts,
    )
    return out
