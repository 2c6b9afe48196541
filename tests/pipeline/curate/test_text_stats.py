"""Tokens, words and sentences for spaced and unspaced scripts, and the per-document cache."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.text_stats import (
    TextStats,
    count_sentences,
    is_unsegmented,
    stats_for,
    tokens,
    words,
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
    assert count_sentences("no end mark") == 1


def test_unsegmented_by_language_or_by_script_when_unknown() -> None:
    assert is_unsegmented("anything", "zh")
    assert not is_unsegmented("这是中文", "de")
    assert is_unsegmented("这是中文的句子。", "und")
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
