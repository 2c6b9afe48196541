"""Gopher repetition rules: real prose kept, repeated lines/paragraphs/n-grams rejected, helpers exact."""

from __future__ import annotations

import pytest

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.config import GopherRepetitionConfig
from lmforge.pipeline.curate.filters.gopher_repetition import GopherRepetitionFilter
from lmforge.pipeline.curate.text_stats import duplicates, repeated_ngram_chars, top_ngram_chars

pytestmark = pytest.mark.usefixtures("each_implementation")

DEFAULT = GopherRepetitionFilter(GopherRepetitionConfig())
# Varied filler prose (no repeated 5-gram) used to dilute crafted repetitions.
FILLER = (
    "Rivers carve valleys slowly over many thousands of years while wind shapes dunes within a single season. "
    "Farmers learned to read both signs long before anyone wrote them down in books or taught them in schools."
)
FILLER2 = (
    "Old maps show coastlines that no longer exist, because harbours silted up and new land rose from the sea. "
    "Sailors trusted them anyway, adding notes in the margins whenever a shallow bank surprised their crews."
)
UNIQUE = [
    "apple",
    "banana",
    "cherry",
    "dates",
    "elder",
    "fig",
    "grape",
    "hazel",
    "iris",
    "juniper",
    "kiwi",
    "lemon",
    "mango",
    "nutmeg",
    "olive",
]


@pytest.mark.parametrize(
    ("name", "lang"),
    [("en_prose", "en"), ("en_docs", "en"), ("de_prose", "de"), ("zh_prose", "zh"), ("ja_prose", "ja")],
)
def test_real_prose_is_kept(sample, doc, name: str, lang: str) -> None:
    assert DEFAULT.filter(doc(sample(name), lang)) == (True, None)


def test_duplicates_counts_repeats_after_the_first() -> None:
    assert duplicates(["ab", "cd", "ab", "ab", "e"]) == (2, 4)
    assert duplicates([]) == (0, 0)


def test_top_ngram_chars_counts_every_occurrence_of_the_most_frequent() -> None:
    words = ["a", "bb", "a", "bb", "a", "bb", "c"]
    assert top_ngram_chars(words, 2) == 3 * 3  # ("a", "bb") three times, 3 characters each
    assert top_ngram_chars(["x", "y", "z"], 2) == 0  # nothing repeats
    assert top_ngram_chars(["x"], 2) == 0


def test_repeated_ngram_chars_marks_overlapping_repeats_once() -> None:
    words = ["one", "two", "three", "four", "five", "one", "two", "three", "four", "five", "six"]
    # The second "one two three four five" repeats the first: its 5 words are covered.
    assert repeated_ngram_chars(words, 5) == len("onetwothreefourfive")
    assert repeated_ngram_chars(words, 6) == 0
    assert repeated_ngram_chars(["a"] * 7, 5) == 6  # windows 1 and 2 repeat window 0: words 1..6 covered


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (FILLER + "\n\n" + "\n\n".join(["Buy now and save big today."] * 4), "gopher_dup_paragraphs"),
        (
            "\n\n".join([FILLER, "First short note.", FILLER, "Second short note.", "Third short note."]),
            "gopher_dup_paragraph_chars",
        ),
        (
            "\n".join([FILLER, "Click here.", "Click here.", "Click here.", "Another line of its own."]),
            "gopher_dup_lines",
        ),
        ("\n".join([FILLER, FILLER + " Extra words here.", FILLER, "A last line."]), "gopher_dup_line_chars"),
        (FILLER + " " + "best price " * 40, "gopher_top_2gram"),
        (
            FILLER + " " + FILLER2 + " " + " ".join(f"crimson emerald sapphire {w}" for w in UNIQUE[:6]),
            "gopher_top_3gram",
        ),
    ],
)
def test_repetitive_junk_is_rejected(doc, text: str, reason: str) -> None:
    assert DEFAULT.filter(doc(text)) == (False, reason)


def test_repeated_long_ngrams_are_rejected(doc) -> None:
    text = FILLER + " " + FILLER2 + " " + FILLER  # one line, one paragraph: only n-grams repeat
    assert DEFAULT.filter(doc(text)) == (False, "gopher_dup_5gram")


def test_chinese_repetition_is_judged_on_characters(sample, doc) -> None:
    spam = "欢迎光临本店，全场商品五折优惠，欢迎光临本店，全场商品五折优惠。" * 5
    assert DEFAULT.filter(doc(sample("zh_prose") + "\n\n" + spam, "zh"))[0] is False
    assert DEFAULT.filter(doc(sample("zh_junk"), "zh")) == (False, "gopher_dup_lines")


def test_thresholds_are_configurable(doc) -> None:
    text = "\n".join([FILLER, FILLER2, "Click here.", "Click here.", "Click here.", "Another line of its own."])
    assert DEFAULT.filter(doc(text)) == (False, "gopher_dup_lines")
    lenient = GopherRepetitionConfig(max_dup_line_frac=0.5)
    assert GopherRepetitionFilter(lenient).filter(doc(text)) == (True, None)
    strict = GopherRepetitionConfig(top_ngrams={"2": 0.001})
    assert GopherRepetitionFilter(strict).filter(doc(FILLER + " " + FILLER[:40])) == (False, "gopher_top_2gram")
    none = GopherRepetitionConfig(top_ngrams={}, dup_ngrams={})
    assert GopherRepetitionFilter(none).filter(doc(FILLER + " " + "best price " * 40)) == (True, None)


def test_empty_text_is_left_to_other_filters(doc) -> None:
    assert DEFAULT.filter(doc("")) == (True, None)


def test_an_ngram_size_longer_than_any_document_costs_nothing() -> None:
    """A size past the word count has no n-grams; the Python statistics built one iterator per position of the
    n-gram first (`range(n)`), so `{"1000000000000" = 0.1}` in a config ran out of memory on the first document."""
    huge = 10**12
    flt = GopherRepetitionFilter(GopherRepetitionConfig(top_ngrams={str(huge): 0.2}, dup_ngrams={str(huge): 0.1}))
    assert flt.filter(Document(doc_id="d", text=FILLER, source="s", path="p", lang="en")) == (True, None)
    assert top_ngram_chars(FILLER.split(), huge) == repeated_ngram_chars(FILLER.split(), huge) == 0
