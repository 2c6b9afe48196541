"""A tiny but complete lineage chain for registry tests: raw JSONL (stdlib docstrings + planted canaries) → curated
snapshot (privacy filter on) → sentencepiece tokenizer → token shards → trained GPT runs with MLflow tracking.

Everything is real (curate, sentencepiece, torch, MLflow on SQLite) and small enough to build in seconds.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.snapshot import curate
from lmforge.pipeline.tokenize.config import ShardsConfig, TokenizerConfig
from lmforge.pipeline.tokenize.shards import build_shards
from lmforge.pipeline.tokenize.trainer import train_tokenizer
from lmforge.pipeline.train.trainer import Trainer
from tests.support.canaries import canary_documents
from tests.support.snapshots import stdlib_docs
from tests.support.training import tiny_config

TOKENIZER = TokenizerConfig(vocab_size=400, sample_chars=60_000, min_sample_chars=5_000, num_threads=1)
SHARDS = ShardsConfig(val_fraction=0.1)


@dataclass(frozen=True, slots=True)
class Chain:
    workspace: Path
    raw: Path
    snapshot: Path
    tokenizer: Path
    shards: Path


@contextmanager
def tracking(workspace: Path):
    """Point MLflow at `<ws>/mlflow.db` for the duration (as the CLI's env.configure does)."""
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{workspace.resolve() / 'mlflow.db'}"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


def write_raw(folder: Path) -> Path:
    """Raw input: ~60 K characters of English docstrings plus the canary documents (fake PII in prose)."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [{"id": d["doc_id"], "text": d["text"]} for d in stdlib_docs(max_chars=60_000)] + canary_documents()
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def build_chain(root: Path, tokenizer: TokenizerConfig = TOKENIZER, raw_in_workspace: bool = False) -> Chain:
    """The chain under `root/ws`; its raw input in `root/raw`, or in `root/ws/corpus` where `make run` puts the
    default corpus (`raw_in_workspace`)."""
    ws = root / "ws"
    raw = write_raw(ws / "corpus" if raw_in_workspace else root / "raw")
    config = load_config(overrides={"dedup": {"enabled": False}})
    snapshot = curate([str(raw)], ws, config)
    tok = train_tokenizer(snapshot, ws, tokenizer)
    shards = build_shards(snapshot, tok, ws, SHARDS, workers=1)
    return Chain(ws, raw, snapshot, tok, shards)


def train_run(chain: Chain, name: str, max_steps: int, **overrides: Any) -> Path:
    """Train a tiny GPT on the chain's shards, logging to MLflow; returns the run folder."""
    config = tiny_config(
        max_steps=max_steps,
        checkpoint={"every": max_steps, "keep": 1},
        tracking={"mlflow": True, "system_metrics": False, "eval_every": 0, "sample_tokens": 0},
        **overrides,
    )
    run_dir = chain.workspace / "runs" / name
    with tracking(chain.workspace):
        Trainer(config, chain.shards, run_dir, resume=False).fit()
    return run_dir
