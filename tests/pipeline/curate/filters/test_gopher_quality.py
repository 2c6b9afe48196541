"""Gopher quality rules on real prose (en, de, zh, ja, stdlib docstrings) and crafted junk."""

from __future__ import annotations

import pytest

from lmforge.pipeline.curate.filters.config import GopherQualityConfig
from lmforge.pipeline.curate.filters.gopher_quality import GopherQualityFilter

pytestmark = pytest.mark.usefixtures("each_implementation")

DEFAULT = GopherQualityFilter(GopherQualityConfig())


@pytest.mark.parametrize(
    ("name", "lang"),
    [("en_prose", "en"), ("en_docs", "en"), ("de_prose", "de"), ("zh_prose", "zh"), ("ja_prose", "ja")],
)
def test_real_prose_is_kept(sample, doc, name: str, lang: str) -> None:
    assert DEFAULT.filter(doc(sample(name), lang)) == (True, None)


def test_cjk_prose_is_kept_when_language_is_unknown(sample, doc) -> None:
    assert DEFAULT.filter(doc(sample("zh_prose"), "und")) == (True, None)


def test_cjk_without_mean_word_length_rule_but_with_character_word_count(doc) -> None:
    # 40 characters: fewer than 50 "words" for Chinese, although it is a single spaceless run.
    short = "我们今天在公园里散步，天气很好，大家都很开心。" * 1
    assert DEFAULT.filter(doc(short, "zh")) == (False, "gopher_too_few_words")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too short to be a document, with the and of.", "gopher_too_few_words"),
        (" ".join(["a b c d e f g h"] * 10) + " the of", "gopher_short_mean_word_length"),
        (" ".join(["internationalisation counterrevolutionaries"] * 30) + " the of", "gopher_long_mean_word_length"),
        ("#tag #news #sale the and " * 20, "gopher_hash_ratio"),
        ("wait for it... the and then... " * 20, "gopher_ellipsis_ratio"),
        ("\n".join(["- item number one of the list and the rest"] * 20), "gopher_bullet_lines"),
        (
            "\n".join(
                ["the story continues somewhere beyond mountains…"] * 8 + ["the garden bloomed with flowers"] * 8
            ),
            "gopher_ellipsis_lines",
        ),
        ("1234 5678 9012 3456 7890 the and tiger horse " * 10, "gopher_few_alpha_words"),
        ("cat dog bird fish tree house river stone cloud green " * 10, "gopher_few_stop_words"),
        ("== ** ++ ;; ", "gopher_too_few_words"),
    ],
)
def test_junk_is_rejected_with_its_reason(doc, text: str, reason: str) -> None:
    assert DEFAULT.filter(doc(text, "en")) == (False, reason)


def test_chinese_junk_without_stop_words_is_rejected(sample, doc) -> None:
    assert DEFAULT.filter(doc(sample("zh_junk"), "zh")) == (False, "gopher_few_stop_words")


def test_german_stop_words_are_used_for_german(sample, doc) -> None:
    text = sample("de_prose")
    assert DEFAULT.filter(doc(text, "de")) == (True, None)
    # German prose has no English stop words: judged as English it fails.
    assert DEFAULT.filter(doc(text, "en")) == (False, "gopher_few_stop_words")


def test_languages_without_a_list_skip_the_stop_word_rule(doc) -> None:
    text = "cat dog bird fish tree house river stone cloud green " * 10
    assert DEFAULT.filter(doc(text, "nl")) == (True, None)


def test_stop_words_match_whole_words_case_insensitively(doc) -> None:
    base = "cat dog bird fish tree house river stone cloud green " * 10
    assert DEFAULT.filter(doc(base + "The WITH", "en")) == (True, None)
    assert DEFAULT.filter(doc(base + "theory without", "en")) == (False, "gopher_few_stop_words")


def test_thresholds_are_configurable(sample, doc) -> None:
    text = sample("en_prose")
    assert GopherQualityFilter(GopherQualityConfig(min_words=1000)).filter(doc(text)) == (False, "gopher_too_few_words")
    assert GopherQualityFilter(GopherQualityConfig(min_stop_words=20)).filter(doc(text)) == (
        False,
        "gopher_few_stop_words",
    )
    bullets = "\n".join(["- item number one of the list and the rest"] * 20)
    assert GopherQualityFilter(GopherQualityConfig(max_bullet_lines=1.0)).filter(doc(bullets)) == (True, None)
    custom = GopherQualityConfig(stop_words={"nl": ["de", "het", "een"]})
    dutch = "cat dog bird fish tree house river stone cloud green " * 10
    assert GopherQualityFilter(custom).filter(doc(dutch, "nl")) == (False, "gopher_few_stop_words")
