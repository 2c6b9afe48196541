"""Shared helpers for the filter tests: real text from tests/data/curate/filters, a Document factory, and a fixture
that runs a whole test module once with the C extension `_textstats` and once with its pure-Python twin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lmforge.pipeline.curate.document import Document
from tests.pipeline.curate.filters.texts import IMPLEMENTATIONS, implementation

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


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def each_implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Module-scoped (so that Hypothesis tests may use it): the module's tests run under each implementation."""
    with implementation(request.param):
        yield request.param
