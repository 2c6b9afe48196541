from __future__ import annotations

import sys
import unicodedata

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.dedup import shingles


def test_normalize_folds_case_punctuation_whitespace_digits():
    assert shingles.normalize("Hello,  WORLD!\n2024-01-05\tÜber") == ["hello", "world", "0000", "00", "00", "über"]
    assert shingles.normalize("") == []
    assert shingles.normalize("...!!!   ") == []


def test_exact_digest_ignores_format_only_changes():
    a = shingles.exact_digest(shingles.normalize("The cat sat on the mat, in 1999."))
    b = shingles.exact_digest(shingles.normalize("the  CAT sat on the mat in 2024"))
    c = shingles.exact_digest(shingles.normalize("the dog sat on the mat in 2024"))
    assert a == b != c


def test_fullwidth_text_normalises_like_ascii():
    assert shingles.normalize("ＡＢＣ　１２３") == shingles.normalize("abc 123")


def test_chinese_is_shingled_by_characters():
    tokens = shingles.normalize("清晨的集市，总是很热闹。")
    assert shingles.units(tokens, by_char=True) == list("清晨的集市总是很热闹")
    assert len(shingles.shingle_hashes64(shingles.units(tokens, True), 5)) == 6


def test_short_sequences_have_no_shingles():
    assert shingles.shingle_hashes64(["one"], 5).size == 0
    assert shingles.shingle_hashes64([], 1).size == 0
    assert shingles.shingle_hashes64(["a", "b"], 2).size == 1


@given(st.lists(st.text(min_size=1, max_size=6), min_size=0, max_size=30), st.integers(1, 6))
def test_vectorised_hashes_equal_the_scalar_reference(seq, n):
    got = shingles.to32(shingles.shingle_hashes64(seq, n)).tolist()
    assert got == [shingles.shingle_hash32(s) for s in shingles.shingles(seq, n)]


def test_hashes_are_stable_across_processes():
    # Pinned value: a change here means every stored signature and index is stale (bump signatures.RECIPE).
    value = int(shingles.to32(shingles.shingle_hashes64(["the", "quick", "brown"], 3))[0])
    assert value == shingles.shingle_hash32(("the", "quick", "brown")) == 2545693932
    assert np.array_equal(shingles.shingle_hashes64(["a"] * 3, 2), shingles.shingle_hashes64(["a"] * 3, 2))


_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=80) | st.text(max_size=40)


@given(st.lists(st.tuples(_TEXT, st.booleans()), max_size=6), st.integers(1, 4), st.integers(1, 4))
def test_batch_path_equals_the_scalar_reference(docs, word_n, char_n):
    got = shingles.batch_shingles([t for t, _ in docs], [b for _, b in docs], word_n, char_n)
    assert len(got.digests) == len(docs) and len(got.offsets) == len(docs) + 1
    for i, (text, by_char) in enumerate(docs):
        digest, seq = shingles.document_units(text, by_char)
        assert got.digests[i] == digest
        assert got.of(i).tolist() == shingles.shingle_hashes64(seq, char_n if by_char else word_n).tolist()


def test_batch_path_keeps_shingles_inside_documents():
    got = shingles.batch_shingles(["a b", "", "c d e", "x"], [False] * 4, 2, 5)
    assert np.diff(got.offsets).tolist() == [1, 0, 2, 0]
    assert got.of(0).tolist() == shingles.shingle_hashes64(["a", "b"], 2).tolist()
    assert got.digests[1] == shingles.exact_digest([])


def test_unit_hash_handles_long_and_multibyte_units():
    long_word = "ab" * 5000
    for text, by_char in (
        (long_word, False),
        ("Ünïcödé wörds ünd 数字１２３", False),
        ("清晨的集市，总是很热闹。", True),
    ):
        got = shingles.batch_shingles([text], [by_char], 1, 1)
        _, seq = shingles.document_units(text, by_char)
        assert got.hashes.tolist() == shingles.shingle_hashes64(seq, 1).tolist()  # scalar unit hashes inside


def test_combining_marks_are_part_of_words():
    """Indic vowel signs are letters: "he is going" and "she is going" in Hindi differ only in them, and were one
    exact duplicate when marks split words and were dropped."""
    assert shingles.normalize("मैं घर जा रहा हूँ") == ["मैं", "घर", "जा", "रहा", "हूँ"]
    masculine, feminine = (shingles.document_units(t, False)[0] for t in ("वह घर जा रहा है", "वह घर जा रही है"))
    assert masculine != feminine
    assert shingles.normalize("e\u0301te\u0301") == shingles.normalize("été") == ["été"]
    marks = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "M"]
    kept = shingles._word_with_marks().fullmatch("".join(marks))  # every mark of this Python's Unicode database
    assert kept is not None


def test_invisible_format_characters_do_not_count():
    """Soft hyphens, zero-width spaces/joiners, bidi marks and variation selectors are invisible: a copy carrying
    them (hyphenated web pages, text pasted from PDFs) is the same text, not a text with every word split."""
    plain = "Die Silbentrennung im Fließtext ist unsichtbar"
    marked = "Die Sil\u00adben\u00adtren\u00adnung im Flie\u200bß\u2060text ist \u200eun\u200csicht\u200dbar\ufe0f"
    assert shingles.normalize(marked) == shingles.normalize(plain)
    got = shingles.batch_shingles([plain, marked], [False, False], 5, 5)
    assert got.digests[0] == got.digests[1] and got.of(0).tolist() == got.of(1).tolist()
