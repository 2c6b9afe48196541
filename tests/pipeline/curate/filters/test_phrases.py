"""Phrases: the C matcher finds exactly what the regular expression finds (case folding included)."""

from __future__ import annotations

import re
import sys
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.curate.filters import phrases as phrases_module
from lmforge.pipeline.curate.filters.config import C4Config, GopherQualityConfig
from lmforge.pipeline.curate.filters.phrases import Phrases
from tests.pipeline.curate.filters.texts import NATIVE_BUILT, TEXTS

NATIVE = pytest.mark.skipif(not NATIVE_BUILT, reason="the C module _textstats is not built (no compiler)")

# The phrase sets the filters build, and a few that stress the matcher's corners.
PHRASE_SETS = [
    ({"ignore_case": True}, [p.strip() for p in C4Config().policy_phrases] + ["javascript"]),
    ({"ignore_case": True, "space_runs": True}, ["lorem ipsum"]),
    *(
        ({"ignore_case": True, "word_bounded": True}, sorted(set(stops), key=len, reverse=True))
        for lang, stops in GopherQualityConfig().stop_words.items()
        if lang not in ("zh", "ja")
    ),
    ({}, sorted(set(GopherQualityConfig().stop_words["zh"]), key=len, reverse=True)),
    ({"ignore_case": True}, ["is", "ſo", "\u212a", "µ", "σ", "İ", "ǅ", "straße", "a", "ab"]),
    ({"ignore_case": True, "word_bounded": True}, ["_", "a_b", "x", "2", "é", "ſ"]),
]


@lru_cache(maxsize=1)
def cased_characters() -> list[str]:
    """Every character with a case (upper or lower differs): the only ones IGNORECASE can map onto others."""
    return [c for c in map(chr, range(sys.maxunicode + 1)) if c.lower() != c or c.upper() != c]


@NATIVE
def test_one_character_matches_exactly_what_ignorecase_matches() -> None:
    pattern_chars = sorted(set("".join(p for _, phrases in PHRASE_SETS for p in phrases)) | set("kKsSiIµΣσςǅǄǆΩω"))
    candidates = cased_characters() + ["1", " ", "_", "中", "\ud800"]
    for p in pattern_chars:
        native = Phrases([p], ignore_case=True)
        assert native.native is not None
        regex = re.compile(re.escape(p), re.IGNORECASE)
        found = [c for c in candidates if native.search(c)]
        assert found == [c for c in candidates if regex.fullmatch(c)], p


def _spans_both_ways(phrases: Phrases, text: str) -> list[tuple[int, int]]:
    spans = list(phrases.spans(text))
    assert spans == [m.span() for m in phrases.pattern.finditer(text)]
    return spans


@NATIVE
@pytest.mark.parametrize(("flags", "phrases"), PHRASE_SETS, ids=range(len(PHRASE_SETS)))
@settings(max_examples=60, deadline=None)
@given(text=TEXTS, pos=st.integers(-3, 300), endpos=st.integers(-3, 300), limit=st.integers(0, 4))
def test_search_spans_and_distinct_equal_the_regex(
    flags: dict, phrases: list[str], text: str, pos: int, endpos: int, limit: int
) -> None:
    matcher = Phrases(phrases, **flags)
    assert matcher.native is not None
    _spans_both_ways(matcher, text)
    match = matcher.pattern.search(text, pos, endpos)
    assert matcher.native.search(text, pos, endpos) == (match.span() if match else None)
    # distinct() in C against the same count in Python.
    seen: set[str] = set()
    for m in matcher.pattern.finditer(text):
        if len(seen) >= limit:
            break
        seen.add(m.group().lower())
    assert matcher.distinct(text, limit) == len(seen)


@NATIVE
@settings(max_examples=150, deadline=None)
@given(
    phrases=st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=5),
    ignore_case=st.booleans(),
    word_bounded=st.booleans(),
    text=TEXTS,
)
def test_arbitrary_phrases_equal_the_regex(
    phrases: list[str], ignore_case: bool, word_bounded: bool, text: str
) -> None:
    matcher = Phrases(phrases, ignore_case=ignore_case, word_bounded=word_bounded)
    assert matcher.native is not None
    # Phrases planted in the text (case-swapped too) so that matches are common.
    planted = text + " ".join(phrases) + " " + " ".join(p.swapcase() for p in phrases) + text
    for sample in (text, planted):
        _spans_both_ways(matcher, sample)


def test_the_regex_runs_where_the_native_matcher_cannot(monkeypatch) -> None:
    assert Phrases([], ignore_case=True).native is None  # empty alternation: matches the empty string
    assert Phrases(["lorem  ipsum"], ignore_case=True, space_runs=True).native is None  # two spaces in a row
    monkeypatch.setattr(phrases_module, "_RE_EXTRA_CASES", None)  # another Python's re internals
    fallback = Phrases(["Cookie policy"], ignore_case=True)
    assert fallback.native is None
    assert fallback.search("our COOKIE POLICY.") and not fallback.search("cookies policy")
    assert Phrases(["的"]).native is not None or not NATIVE_BUILT  # case-sensitive phrases need no table


def test_lorem_ipsum_spans_any_whitespace() -> None:
    lorem = Phrases(["lorem ipsum"], ignore_case=True, space_runs=True)
    assert lorem.pattern.pattern == r"lorem\s+ipsum"
    for text in ("Lorem ipsum dolor", "LOREM\n\u3000IPSUM", "x lorem\x0bipsum"):
        assert lorem.search(text)
    for text in ("loremipsum", "lorem-ipsum", "lorem ipsu"):
        assert not lorem.search(text)
