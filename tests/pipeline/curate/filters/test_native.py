"""The filter chain gives the same verdicts (and the same rewritten text) with the C extension and without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.corpus import build_default_corpus
from lmforge.pipeline.curate.clean import clean_text
from lmforge.pipeline.curate.config import CleanConfig
from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters import Filter, build_filters
from lmforge.pipeline.curate.filters.config import (
    C4Config,
    FiltersConfig,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
)
from tests.pipeline.curate.filters.texts import EDGE_TEXTS, LANGS, NATIVE_BUILT, TEXTS, implementation

pytestmark = pytest.mark.skipif(not NATIVE_BUILT, reason="the C module _textstats is not built (no compiler)")

Outcome = tuple[list[tuple[str, bool, str | None]], str]


def judge(filters: list[Filter], text: str, lang: str) -> Outcome:
    """Every filter's verdict up to the first rejection, and the text at the end."""
    doc = Document(doc_id="d", text=text, source="test", path="test.jsonl", lang=lang)
    verdicts = []
    for flt in filters:
        keep, reason = flt.filter(doc)
        verdicts.append((flt.name, keep, reason))
        if not keep:
            break
    return verdicts, doc.text


def assert_same_outcome(config: FiltersConfig, text: str, lang: str) -> None:
    outcomes = []
    for impl in ("native", "python"):
        with implementation(impl):
            outcomes.append(judge(build_filters(config), text, lang))
    assert outcomes[0] == outcomes[1]


def _lang(record_id: str) -> str:
    """The language the corpus files a record under: multilingual/<lang>/..., English otherwise."""
    parts = record_id.split("/")
    return parts[1] if parts[0] == "multilingual" else "en"


@pytest.fixture(scope="module")
def corpus_docs(tmp_path_factory) -> list[tuple[str, str]]:
    """The built-in default corpus (2 MB), cleaned as curation does, with the language it is filed under."""
    paths = build_default_corpus(tmp_path_factory.mktemp("corpus"), max_mb=2)
    docs = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = clean_text(record["text"], CleanConfig())
            if text:
                docs.append((text, _lang(record["id"])))
    return docs


def test_default_corpus_gets_the_same_verdicts_and_text(corpus_docs) -> None:
    outcomes = {}
    for impl in ("native", "python"):
        with implementation(impl):
            filters = build_filters(FiltersConfig())
            outcomes[impl] = [judge(filters, text, lang) for text, lang in corpus_docs]
    assert outcomes["native"] == outcomes["python"]
    # The corpus exercises the chain: documents kept, rejected by several filters, rewritten by C4.
    last = [verdicts[-1] for verdicts, _ in outcomes["native"]]
    assert any(keep for _, keep, _ in last) and len({name for name, keep, _ in last if not keep}) >= 3
    assert any(text != original for (_, text), (original, _) in zip(outcomes["native"], corpus_docs, strict=True))


_CONFIGS = st.builds(
    FiltersConfig,
    gopher_quality=st.builds(GopherQualityConfig, min_words=st.sampled_from([0, 3, 50])),
    gopher_repetition=st.builds(
        GopherRepetitionConfig,
        top_ngrams=st.sampled_from([{"2": 0.2, "3": 0.18, "4": 0.16}, {"1": 0.3, "2": 0.5}, {}]),
        dup_ngrams=st.sampled_from([{"5": 0.15, "6": 0.14, "10": 0.1}, {"1": 0.9, "3": 0.5}, {}]),
    ),
    c4=st.builds(
        C4Config,
        unit=st.sampled_from(["paragraph", "line"]),
        min_words_per_line=st.sampled_from([0, 1, 5]),
        max_word_chars=st.sampled_from([1, 5, 1000]),
        min_sentences=st.sampled_from([0, 1, 3]),
        drop_no_terminal_punct=st.booleans(),
        drop_javascript=st.booleans(),
        drop_policy=st.booleans(),
        reject_curly_bracket=st.booleans(),
    ),
    fineweb=st.builds(FineWebConfig, short_line_chars=st.sampled_from([0, 3, 30])),
)


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, lang=LANGS, config=st.one_of(st.just(FiltersConfig()), _CONFIGS))
def test_generated_text_gets_the_same_verdicts_and_text(text: str, lang: str, config: FiltersConfig) -> None:
    assert_same_outcome(config, text, lang)


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_edge_cases_get_the_same_verdicts_and_text(text: str) -> None:
    lenient = FiltersConfig(gopher_quality=GopherQualityConfig(min_words=0, max_words=10**7))
    for lang in ("en", "zh", "und"):
        assert_same_outcome(FiltersConfig(), text, lang)
        assert_same_outcome(lenient, text, lang)
