"""One small real snapshot and one tokenizer per session: stdlib docstrings plus German/Chinese/English texts with
privacy placeholders, in two Parquet files of several row groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.pipeline.tokenize.config import TokenizerConfig
from lmforge.pipeline.tokenize.trainer import train_tokenizer
from tests.support.snapshots import make_snapshot, multilingual_docs, stdlib_docs

#: Small enough to train in about a second on a busy 2-core machine.
SMALL = TokenizerConfig(vocab_size=600, sample_chars=150_000, num_threads=1)


def corpus_docs() -> list[dict]:
    """~150 K characters of English docstrings and three copies (distinct ids) of the multilingual texts."""
    extra = [dict(d, doc_id=f"{d['doc_id']}-{k}") for k in range(3) for d in multilingual_docs()]
    return stdlib_docs(max_chars=150_000) + extra


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ws")


@pytest.fixture(scope="session")
def snapshot(workspace) -> Path:
    return make_snapshot(workspace, corpus_docs(), files=2, row_group_size=64)


@pytest.fixture(scope="session")
def tokenizer(workspace, snapshot) -> Path:
    return train_tokenizer(snapshot, workspace, SMALL)
