"""C4 hands on the scan of the text it leaves, made from the scan before: it equals a fresh scan of that text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.curate import text_stats
from lmforge.pipeline.curate.filters.c4 import _TERMINAL_CHARS, C4Filter
from lmforge.pipeline.curate.filters.config import C4Config
from tests.pipeline.curate.filters.texts import EDGE_TEXTS, NATIVE_BUILT, TEXTS

pytestmark = pytest.mark.skipif(not NATIVE_BUILT, reason="the C module _textstats is not built (no compiler)")

_COUNTS = [
    "n_tokens",
    "n_symbol_tokens",
    "n_no_alpha_tokens",
    "n_unsegmented",
    "word_chars",
    "n_words",
    "n_lines",
    "n_bullet_lines",
    "n_ellipsis_lines",
    "n_punct_lines",
    "n_paragraphs",
    "n_newlines",
    "n_hashes",
    "n_ellipses",
    "n_sentences",
]

_UNITS = [
    "One two three four five.",
    "  Leading spaces and trailing ones, six words.  ",
    "\tA tab, a #hash and an ellipsis... seven words.",
    "short",
    "漢字の文章も一つの段落になります。",
    "- a bullet line that ends well.\n- and a second bullet line!",
    "Trailing dots.....\n....and more dots ... here.",
    "no end punctuation on this line at all",
    "Mixed 한국어 and English words here, finally.",
]
_SEPARATORS = ["\n\n", "\n \n", "\n\n\n", "\n\t\n  ", " \n\n", "\n\r\n", "\n\n\n\n"]


def _scan(text: str):
    return text_stats._textstats.scan(text, text_stats._BULLET_CHARS, text_stats._TERMINAL_CHARS)


def assert_derived_is_fresh(text: str, min_words: int) -> None:
    phrases = C4Filter(C4Config())._phrases.native
    before = _scan(text)
    args = (True, _TERMINAL_CHARS, True, min_words, 1000, phrases)
    *judged, rewritten, derived = text_stats._textstats.c4_units(before, *args, True)
    assert tuple(judged) + (rewritten,) == text_stats._textstats.c4_units(before, *args)
    if rewritten is None:
        assert derived is None
        return
    fresh = _scan(rewritten)
    assert derived.n_tokens >= 1
    assert {a: getattr(derived, a) for a in _COUNTS} == {a: getattr(fresh, a) for a in _COUNTS}
    assert derived.line_duplicates() == fresh.line_duplicates()
    assert derived.paragraph_duplicates() == fresh.paragraph_duplicates()
    assert [derived.short_lines(k) for k in (0, 5, 30)] == [fresh.short_lines(k) for k in (0, 5, 30)]
    assert [derived.top_ngram_chars(n) for n in range(1, 5)] == [fresh.top_ngram_chars(n) for n in range(1, 5)]
    assert [derived.repeated_ngram_chars(n) for n in range(1, 8)] == [
        fresh.repeated_ngram_chars(n) for n in range(1, 8)
    ]
    for by_paragraph in (True, False):
        again = (by_paragraph, _TERMINAL_CHARS, True, 1, 1000, phrases)
        assert text_stats._textstats.c4_units(derived, *again) == text_stats._textstats.c4_units(fresh, *again)


@settings(max_examples=300, deadline=None)
@given(
    units=st.lists(st.sampled_from(_UNITS), min_size=1, max_size=8),
    separators=st.lists(st.sampled_from(_SEPARATORS), min_size=8, max_size=8),
    min_words=st.sampled_from([1, 3, 5]),
)
def test_derived_scan_of_paragraph_units(units: list[str], separators: list[str], min_words: int) -> None:
    text = units[0] + "".join(sep + unit for sep, unit in zip(separators, units[1:], strict=False))
    assert_derived_is_fresh(text, min_words)


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, min_words=st.sampled_from([1, 5]))
def test_derived_scan_of_generated_text(text: str, min_words: int) -> None:
    assert_derived_is_fresh(text, min_words)


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_derived_scan_of_edge_cases(text: str) -> None:
    for min_words in (1, 5):
        assert_derived_is_fresh(text + "\n\nFive words end right here.\n\nx", min_words)
        assert_derived_is_fresh(text, min_words)


def test_line_units_leave_the_rescan_to_python() -> None:
    before = _scan("One two three four five.\nshort\n")
    result = text_stats._textstats.c4_units(before, False, _TERMINAL_CHARS, True, 5, 1000, None, True)
    assert result[3] == "One two three four five." and result[4] is None
