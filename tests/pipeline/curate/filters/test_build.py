"""build_filters order and switches, the config tree from TOML, the length filter, and robustness."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.configuring import from_dict, merge, to_dict
from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters import LengthFilter, build_filters
from lmforge.pipeline.curate.filters.config import FiltersConfig, LengthConfig
from lmforge.pipeline.errors import ConfigError

pytestmark = pytest.mark.usefixtures("each_implementation")

ORDER = ["length", "gopher_quality", "gopher_repetition", "c4", "fineweb"]
ALL = build_filters(FiltersConfig())
LANGS = st.sampled_from(["en", "de", "zh", "ja", "ko", "th", "und"])


def make_doc(text: str, lang: str) -> Document:
    return Document(doc_id="d1", text=text, source="test", path="test.jsonl", lang=lang)


def test_default_order() -> None:
    assert [f.name for f in ALL] == ORDER


def test_disabled_filters_are_omitted() -> None:
    cfg = from_dict(FiltersConfig, {"gopher_repetition": {"enabled": False}, "c4": {"enabled": False}})
    assert [f.name for f in build_filters(cfg)] == ["length", "gopher_quality", "fineweb"]
    assert build_filters(FiltersConfig(enabled=False)) == []


def test_toml_tables_and_per_source_overrides_build_the_config() -> None:
    base = tomllib.loads(
        """
        [gopher_quality]
        min_words = 20
        stop_words = { en = ["the", "of"], nl = ["de", "het", "een"] }
        [gopher_repetition]
        top_ngrams = { 2 = 0.25, 3 = 0.2 }
        [c4]
        unit = "line"
        """
    )
    override = {"gopher_quality": {"min_words": 5}, "fineweb": {"enabled": False}}
    cfg = from_dict(FiltersConfig, merge(to_dict(from_dict(FiltersConfig, base)), override))
    assert cfg.gopher_quality.min_words == 5
    assert cfg.gopher_quality.stop_words["nl"] == ["de", "het", "een"]
    assert cfg.gopher_repetition.top_ngrams == {"2": 0.25, "3": 0.2}
    assert cfg.c4.unit == "line"
    assert [f.name for f in build_filters(cfg)] == ORDER[:-1]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"length": {"min_chars": 10, "max_chars": 5}}, "filters.length.max_chars"),
        ({"gopher_quality": {"min_alpha_words": 1.5}}, "filters.gopher_quality.min_alpha_words"),
        ({"gopher_quality": {"max_words": 10}}, "filters.gopher_quality.max_words"),
        ({"gopher_repetition": {"dup_ngrams": {"five": 0.1}}}, "filters.gopher_repetition.dup_ngrams.five"),
        ({"c4": {"unit": "sentence"}}, "c4.unit"),
        ({"fineweb": {"max_short_line_ratio": -0.1}}, "filters.fineweb.max_short_line_ratio"),
        ({"fineweb": {"typo": 1}}, "typo"),
    ],
)
def test_bad_config_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        from_dict(FiltersConfig, data, "filters")


def test_length_bounds(doc) -> None:
    f = LengthFilter(LengthConfig(min_chars=5, max_chars=10))
    assert f.filter(doc("abcd")) == (False, "length_too_short")
    assert f.filter(doc("abcde")) == (True, None)
    assert f.filter(doc("a" * 11)) == (False, "length_too_long")


def test_all_filters_keep_real_prose_in_sequence(sample) -> None:
    for name, lang in [("en_prose", "en"), ("de_prose", "de"), ("zh_prose", "zh"), ("ja_prose", "ja")]:
        d = make_doc(sample(name), lang)
        assert [f.filter(d) for f in ALL] == [(True, None)] * len(ALL), name


def _run_all(text: str, lang: str) -> None:
    d = make_doc(text, lang)
    for f in ALL:
        keep, reason = f.filter(d)
        assert isinstance(keep, bool)
        assert (reason is None) == keep
        assert reason is None or (reason.islower() and " " not in reason)
        assert isinstance(d.text, str)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400), LANGS)
def test_filters_never_raise_on_arbitrary_text(text: str, lang: str) -> None:
    _run_all(text, lang)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["the", "of", "我", "的", "。", ".", "#", "...", "-", "\n", "\n\n", " ", "{"]), max_size=300
    ),
    LANGS,
)
def test_filters_never_raise_on_token_soup(parts: list[str], lang: str) -> None:
    _run_all(" ".join(parts), lang)


@pytest.mark.parametrize("text", ["", "\n", " ", "x" * 200_000, "词" * 200_000, ("word " * 40_000).strip()])
def test_filters_never_raise_on_edge_cases(text: str) -> None:
    for lang in ("en", "zh", "und"):
        _run_all(text, lang)
