"""Tokens, words and sentences for spaced and unspaced scripts, the per-document cache, and the C extension
`_textstats` giving the same numbers as the pure-Python statistics."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.text_stats import (
    _SENTENCE_END_RE,
    CLUSTER_MARK_RANGES,
    UNSEGMENTED_RANGES,
    NativeTextStats,
    TextStats,
    _textstats,
    count_sentences,
    is_unsegmented,
    stats_for,
    tokens,
    words,
)
from tests.pipeline.curate.filters.texts import (
    EDGE_TEXTS,
    IMPLEMENTATIONS,
    LANGS,
    NATIVE_BUILT,
    TEXTS,
    implementation,
)


def test_spaced_words_keep_attached_punctuation_and_drop_symbol_runs() -> None:
    text = "The cat -- sat (on) the mat... ### 42"
    assert tokens(text) == ["The", "cat", "--", "sat", "(on)", "the", "mat...", "###", "42"]
    assert words(text) == ["The", "cat", "sat", "(on)", "the", "mat...", "42"]


def test_cjk_characters_are_words_and_latin_runs_stay_whole() -> None:
    text = "Python 3.11 很好用。我们用它。"
    assert words(text) == ["Python", "3.11", "很", "好", "用", "我", "们", "用", "它"]
    assert tokens(text)[-1] == "。"


def test_kana_and_hangul_are_per_character() -> None:
    assert words("これはペンです") == list("これはペンです")
    assert words("안녕하세요 세계") == list("안녕하세요세계")


def test_a_character_of_an_unsegmented_script_takes_its_marks_along() -> None:
    """A token of Thai, Burmese, Khmer or Tibetan was one code point: a vowel sign, tone mark or medial was a
    "word" of its own, so half of a Burmese text's words were marks and an n-gram one or two syllables."""
    assert tokens("ที่นี่ทำ") == ["ที่", "นี่", "ทำ"]  # SARA AM joins too (a spacing mark in UAX #29)
    assert tokens("မြန်မာ") == ["မြ", "န်", "မာ"]
    assert tokens("ཀྱི་ཡིན།") == ["ཀྱི", "་", "ཡི", "ན", "།"]  # Tibetan: a stack of consonants and its vowel
    assert tokens("か\u3099き 漢\U000e0100字!") == ["か\u3099", "き", "漢\U000e0100", "字", "!"]
    # a mark after a space or a Latin letter is what it was: a token of its own, or part of the spaced token
    assert tokens("\u0e48ก a\u0301b\u0e48") == ["\u0e48", "ก", "a\u0301b", "\u0e48"]
    st_ = TextStats("ก\u0301! ที่", "th")
    assert st_.words == ["ก\u0301", "ที่"] and (st_.n_tokens, st_.n_symbol_tokens, st_.word_chars) == (3, 1, 5)


def test_tibetan_is_an_unsegmented_script() -> None:
    tibetan = "ལྷ་སའི་གྲོང་ཁྱེར་ནི་བོད་ཀྱི་རྒྱལ་ས་ཡིན།"
    assert is_unsegmented(tibetan, "und") and is_unsegmented("anything", "dz") and is_unsegmented("x", "bo")


def test_cluster_marks_are_the_combining_marks_of_their_blocks() -> None:
    """Every combining mark (category M) of the unsegmented scripts joins the character before it; beyond those
    the table holds whole combining blocks, the joiners, and Thai and Lao AM (spacing marks in UAX #29)."""
    marks = {c for lo, hi in CLUSTER_MARK_RANGES for c in range(lo, hi + 1)}
    scripts = {c for lo, hi in UNSEGMENTED_RANGES for c in range(lo, hi + 1)}
    assert {c for c in scripts if unicodedata.category(chr(c)).startswith("M")} <= marks
    assert {c for c in marks & scripts if not unicodedata.category(chr(c)).startswith("M")} == {0x0E33, 0x0EB3}
    assert not any(chr(c).isspace() for c in marks)
    assert list(CLUSTER_MARK_RANGES) == sorted(CLUSTER_MARK_RANGES)


def test_stats_counts_agree_with_words() -> None:
    st_ = TextStats("Hello, world! 1234 ... fine 你好", "en")
    assert st_.n_words == len(st_.words) == 6
    assert st_.word_chars == sum(map(len, st_.words))
    # "1234" and "..." have no letter; the other 6 tokens do.
    assert st_.n_alpha_tokens == len(st_.tokens) - 2


def test_lines_and_paragraphs_skip_blank_lines() -> None:
    st_ = TextStats("a b\n\n  \nc d\ne f\n", "en")
    assert st_.lines == ["a b", "c d", "e f"]
    assert st_.paragraphs == ["a b", "c d\ne f"]


def test_sentences_end_on_latin_and_cjk_punctuation() -> None:
    assert count_sentences("One. Two! Three? e.g.x") == 3
    assert count_sentences("你好。我很好！你呢？") == 3
    assert count_sentences("ایک۔ دو۔") == count_sentences("មួយ។ ពីរ។") == count_sentences("တစ်။နှစ်။") == 2
    assert count_sentences("no end mark") == 1


def test_unsegmented_by_language_or_by_script() -> None:
    assert is_unsegmented("anything", "zh")
    assert is_unsegmented("这是中文的句子。", "und")
    # language ID reads a text's head: a text mostly in such a script is one whatever its language says
    assert is_unsegmented("这是中文", "de")
    assert not is_unsegmented("Das ist deutsch, mit zwei Wörtern 中文", "de")
    assert not is_unsegmented("plain English text", "und")


def test_stats_for_caches_until_text_changes() -> None:
    doc = Document(doc_id="1", text="one two three", source="s", path="p", lang="en")
    first = stats_for(doc)
    assert stats_for(doc) is first
    doc.text = "one two"
    assert stats_for(doc) is not first
    assert stats_for(doc).n_words == 2


@given(st.text())
def test_words_never_contain_whitespace_and_counts_are_consistent(text: str) -> None:
    st_ = TextStats(text, "und")
    assert all(w and not any(ch.isspace() for ch in w) for w in st_.words)
    assert st_.n_words == len(st_.words)
    assert 0 <= st_.n_alpha_tokens <= len(st_.tokens)


# --- the C extension `_textstats` against the pure-Python statistics ---------------------------------------------

NATIVE = pytest.mark.skipif(not NATIVE_BUILT, reason="the C module _textstats is not built (no compiler)")


def _numbers(stats: TextStats, orders: bool = False) -> dict:
    """Every statistic the filters use; `orders` asks the n-gram questions from the longest size down."""
    sizes = range(12)
    if orders:
        repeated = {n: stats.repeated_ngram_chars(n) for n in reversed(sizes)}
        top = {n: stats.top_ngram_chars(n) for n in reversed(sizes)}
    else:
        top = {n: stats.top_ngram_chars(n) for n in sizes}
        repeated = {n: stats.repeated_ngram_chars(n) for n in sizes}
    return {
        "tokens": stats.n_tokens,
        "symbol_tokens": stats.n_symbol_tokens,
        "words": stats.n_words,
        "word_chars": stats.word_chars,
        "alpha_tokens": stats.n_alpha_tokens,
        "cjk": stats.cjk,
        "lines": stats.n_lines,
        "bullet_lines": stats.n_bullet_lines,
        "ellipsis_lines": stats.n_ellipsis_lines,
        "punct_lines": stats.n_punct_lines,
        "short_lines": [stats.n_short_lines(limit) for limit in (0, 1, 5, 15, 30, 10**30)],
        "line_duplicates": stats.line_duplicates,
        "paragraphs": stats.n_paragraphs,
        "paragraph_duplicates": stats.paragraph_duplicates,
        "hashes": stats.n_hashes,
        "ellipses": stats.n_ellipses,
        "newlines": stats.n_newlines,
        "top": [top[n] for n in sizes],
        "repeated": [repeated[n] for n in sizes] + [stats.repeated_ngram_chars(-1)],
    }


def _assert_native_equals_python(text: str, lang: str) -> None:
    native = NativeTextStats(text, lang)
    python = TextStats(text, lang)
    assert _numbers(native, orders=len(text) % 2 == 1) == _numbers(python)
    # Sentence ends, which C4 takes from the scan.
    assert native.scan.n_sentences == len(_SENTENCE_END_RE.findall(text))
    # Sizes past any number of words (Python would build that many iterators first).
    assert native.top_ngram_chars(10**30) == native.repeated_ngram_chars(2**63) == 0


def test_native_unsegmented_ranges_are_the_python_ones() -> None:
    if NATIVE_BUILT:
        assert _textstats.UNSEGMENTED_RANGES == UNSEGMENTED_RANGES
        assert _textstats.CLUSTER_MARK_RANGES == CLUSTER_MARK_RANGES


@NATIVE
@settings(max_examples=300, deadline=None)
@given(TEXTS, LANGS)
def test_native_statistics_equal_python_on_generated_text(text: str, lang: str) -> None:
    _assert_native_equals_python(text, lang)


@NATIVE
@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_native_statistics_equal_python_on_edge_cases(text: str) -> None:
    for lang in ("en", "und"):
        _assert_native_equals_python(text, lang)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_stats_for_follows_the_implementation_switch(impl: str) -> None:
    doc = Document(doc_id="1", text="one two three", source="s", path="p", lang="en")
    with implementation(impl):
        stats = stats_for(doc)
        assert isinstance(stats, NativeTextStats) == (impl == "native")
        assert stats_for(doc) is stats
        assert stats.n_words == 3


@given(TEXTS)
def test_ellipsis_count_is_what_the_old_regex_found(text: str) -> None:
    # Gopher's ellipsis ratio used to count re.findall(r"\.\.\.|…"); str.count finds the same non-overlapping runs.
    assert TextStats(text).n_ellipses == len(re.findall(r"\.\.\.|…", text))
