"""Shared helpers for the filter tests: real text from tests/data/curate/filters and a Document factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lmforge.pipeline.curate.document import Document

DATA = Path(__file__).resolve().parents[3] / "data" / "curate" / "filters"


def make_doc(text: str, lang: str = "en") -> Document:
    return Document(doc_id="d1", text=text, source="test", path="test.jsonl", line=1, lang=lang)


@pytest.fixture
def doc() -> Callable[..., Document]:
    return make_doc


@pytest.fixture(scope="session")
def sample() -> Callable[[str], str]:
    """Read one sample text (`en_prose`, `de_prose`, `zh_prose`, `ja_prose`, `zh_junk`, `en_docs` …)."""

    def read(name: str) -> str:
        return (DATA / f"{name}.txt").read_text(encoding="utf-8").strip("\n")

    return read
