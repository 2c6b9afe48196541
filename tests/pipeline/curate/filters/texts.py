"""Generated text for comparing the C extension `_textstats` with its pure-Python twin, and the switch between them.

The fragments are what the statistics and filters look at (whitespace variants, sentence ends, bullets, ellipses,
unsegmented scripts, case oddities re's IGNORECASE knows, lone surrogates, astral characters), mixed far more often
than chance would, and stretches are repeated on purpose so that lines, paragraphs and n-grams repeat.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import strategies as st

from lmforge.pipeline.curate import text_stats

NATIVE_BUILT = text_stats._textstats is not None
IMPLEMENTATIONS = [
    pytest.param(
        "native",
        marks=pytest.mark.skipif(not NATIVE_BUILT, reason="the C module _textstats is not built (no compiler)"),
    ),
    "python",
]


@contextmanager
def implementation(name: str) -> Iterator[None]:
    """Run the block with the C extension ("native") or with it switched off ("python")."""
    with pytest.MonkeyPatch.context() as mp:
        if name == "python":
            mp.setattr(text_stats, "_textstats", None)
        yield


_WORDS = ["the", "The", "THE", "of", "and", "to", "that", "with", "word", "words", "again", "x" * 8, "y" * 9]
_WORDS += ["z" * 16, "q" * 17, "ab" * 12, "İs", "ıs", "ſo", "\u212aey", "e.g.", "3.11", "1,000", "²", "½", "_", "__x__"]
_PUNCT = ["#", "##", "...", "....", "......", "…", ".", "!", "?", "?!", ".)", ".'", "؟", "।", "॥", "։", "።"]
_PUNCT += ["。", "！", "？", "」", "』", "”", "’", "'", '"', ")", "]", "）", "．", "-", "*", "•", "·", "–", "—", "✓"]
_PUNCT += ["۔", "｡", "។", "။", "។。", "。។", "។」។", "．．"]  # full stops of Urdu, Khmer, Myanmar; runs across tokens
_PUNCT += ["།", "༎", "།།", "ཡིན།", "།」"]  # Tibetan shad and double shad
_SCRIPTS = ["我", "的", "是", "用", "こ", "れ", "ン", "ｶ", "한", "국", "ไ", "ທ", "ក", "မ", "ᄀ", "ㄱ", "\U00020000"]
_SCRIPTS += ["\U0002a6d6", "\U0001f600", "é", "ß", "Ω", "ж", "ـ", "\ud800", "\udfff", "\u0301", "µ", "ǅ"]
# Grapheme clusters of unsegmented scripts (a character and the marks after it), marks alone, and marks from outside
# those scripts that join them (variation selectors, joiners, a combining accent or enclosing circle).
_SCRIPTS += ["ที่", "ทำ", "\u0e48", "\u0e33", "ໍ້", "မြန်", "\u103a", "ཀྱི", "\u0f7a", "།", "ཀ", "ក្ម", "\u17d2"]
_SCRIPTS += ["\ufe0f", "\U000e0100", "\u200d", "\u200c", "\u20dd", "か\u3099", "\u3099", "\u1ab0", "漢\U000e0101"]
_SPACES = [" ", "  ", "\t", "\n", "\n\n", "\n \n", "\n\n\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0"]
_SPACES += ["\u2028", "\u3000", " \n"]
_PHRASES = ["lorem", "ipsum", "Lorem  Ipsum", "LOREM\nipsum", "javascript", "JavaScript", "cookie policy"]
_PHRASES += ["privacy policy", "uses cookies", "use of cookies", "terms of use", "Terms Of Use"]

_ASCII_FRAGMENTS = [f for f in _WORDS + _PUNCT + _SPACES + _PHRASES if f.isascii()]
_SEPARATORS = st.sampled_from(["", " ", " ", " ", "\n", "\n\n", "\t", "\u3000"])
_ASCII_SEPARATORS = st.sampled_from(["", " ", " ", " ", "\n", "\n\n", "\t", "\x0b"])

_PIECE = st.one_of(st.sampled_from(_WORDS + _PUNCT + _SCRIPTS + _SPACES + _PHRASES), st.text(max_size=6))
_ASCII_PIECE = st.one_of(st.sampled_from(_ASCII_FRAGMENTS), st.text(alphabet=string.printable, max_size=6))


@st.composite
def _texts(draw: st.DrawFn, piece: st.SearchStrategy[str], separator: st.SearchStrategy[str]) -> str:
    pieces = draw(st.lists(piece, max_size=40))
    text = "".join(p + draw(separator) for p in pieces)
    if text and draw(st.booleans()):
        # Repeat a stretch: duplicated lines, paragraphs and n-grams.
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, len(text)))
        text = text[:end] + draw(separator) + text[start:end] * draw(st.integers(1, 4)) + text[end:]
    return text


TEXTS = st.one_of(
    _texts(_PIECE, _SEPARATORS),
    _texts(_ASCII_PIECE, _ASCII_SEPARATORS),  # 1-byte strings: the 16-at-a-time paths
    st.text(),
)
"""Arbitrary text, biased towards what the filters look at."""

LANGS = st.sampled_from(["en", "de", "zh", "ja", "ko", "th", "my", "dz", "und"])

EDGE_TEXTS = [
    "",
    "\n",
    " ",
    "a",
    ".",
    "x" * 200_000,
    "词" * 10_000,
    ("word " * 10_000).strip(),
    "\n\n".join(["Same paragraph here.", "Other one."] * 300),
    " ".join(["alpha beta gamma delta epsilon"] * 400),
    "😀 " * 3000 + "end.",
    " ".join("w" * n for n in range(1, 40)) * 20,  # every word-key length, and the end of the buffer
    ("Ж" * 17 + " ") * 50 + "Ж" * 17,
    "a\ud800b \udfff. " * 100,
    "ភាសា។។ ខ្មែរ។。 ពេញ。។」។ မြန်။ ۔ اردو۔ ３．１４｡" * 50,
    # clusters whose marks cross the 8-character blocks of 2-byte strings, and marks no character takes
    "abcdefgท" + "\u0e35\u0e48\u0301" * 5 + " x\u0301 \u0301ท!" * 20,
    "ก" + "\ufe0f" * 15 + "!" + "\u200d" * 9 + " " + "မြန်မာ" * 40,
    "漢\U000e0100字" * 30 + " ！ ",
]
"""Deterministic edge cases: empty, huge, one script, many repeats, long words, lone surrogates."""
