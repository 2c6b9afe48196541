"""Text statistics shared by the quality filters, CJK-aware and computed once per document.

A "token" is a run of non-space characters, except that every character of a script written without spaces
(Han, Kana, Hangul, Thai, Lao, Khmer, Myanmar) is a token of its own: so "Python 3.11 很好用。" has the tokens
"Python", "3.11", "很", "好", "用", "。". A "word" is a token with at least one letter or digit (Gopher counts
whitespace-separated words; punctuation stays attached to them, as it does here for spaced scripts).

Everything is computed with compiled regular expressions and C-level builtins, lazily, and cached: several
filters ask `stats_for(doc)` about the same document, and only the first call pays.
"""

from __future__ import annotations

import re
from functools import cached_property

from lmforge.pipeline.curate.document import Document

UNSEGMENTED_LANGS = frozenset({"zh", "ja", "ko", "th", "lo", "km", "my"})
"""ISO 639-1 codes of languages whose words are not (reliably) separated by spaces: characters count as words."""

_UNSEGMENTED_CHARS = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0002fa1f"  # CJK extensions B-F, compatibility supplement
)
_U = _UNSEGMENTED_CHARS

_TOKEN_RE = re.compile(rf"[{_U}]|[^\s{_U}]+")
# Tokens without a letter or digit (punctuation/symbol runs): start after a boundary, end before one.
_SYMBOL_TOKEN_RE = re.compile(rf"(?<![^\s{_U}])(?:_|[^\w\s{_U}])+(?![^\s{_U}])")
# Tokens without a letter (digits and symbols only).
_NO_ALPHA_TOKEN_RE = re.compile(rf"(?<![^\s{_U}])(?:[\d_]|[^\w\s{_U}])+(?![^\s{_U}])")
_UNSEGMENTED_RE = re.compile(rf"[{_U}]")
_PARAGRAPH_RE = re.compile(r"\n\s*\n")

TERMINAL_PUNCTUATION: tuple[str, ...] = (
    ".",
    "!",
    "?",
    '"',
    "'",
    "”",
    "’",
    "。",
    "！",
    "？",
    "．",
    "」",
    "』",
    "؟",
    "।",
    "॥",
    "։",
    "።",
)
"""Line endings that close a sentence: C4's `. ! ? "` (Raffel et al. 2020) plus closing quotes and the full stops
of CJK (。！？．」』), Arabic (؟), Devanagari (। ॥), Armenian and Ethiopic scripts."""

_SENTENCE_END_RE = re.compile(r"[.!?؟।॥]+[\"'”’)\]]*(?=\s|$)|[。！？]+[」』”）]*")


def tokens(text: str) -> list[str]:
    """All tokens of `text` (see the module docstring): whitespace runs split, unsegmented scripts per character."""
    return _TOKEN_RE.findall(text)


def words(text: str) -> list[str]:
    """Tokens that contain a letter or digit; for zh/ja/ko/th text each character is a word."""
    symbol_free = _SYMBOL_TOKEN_RE.sub(" ", text)
    return _TOKEN_RE.findall(symbol_free)


def count_sentences(text: str) -> int:
    """Sentence ends in `text` (terminal punctuation before a space or the end; CJK 。！？ anywhere), at least 1."""
    return max(1, len(_SENTENCE_END_RE.findall(text)))


def is_unsegmented(text: str, lang: str) -> bool:
    """True when `lang` is written without spaces, or (language unknown) most tokens are such characters."""
    if lang in UNSEGMENTED_LANGS:
        return True
    if lang != "und":
        return False
    n_tokens = len(_TOKEN_RE.findall(text))
    return n_tokens > 0 and 2 * len(_UNSEGMENTED_RE.findall(text)) > n_tokens


class TextStats:
    """Lazily computed statistics of one text; build it with `stats_for(doc)` to share it between filters."""

    def __init__(self, text: str, lang: str = "und") -> None:
        self.text = text
        self.lang = lang

    @cached_property
    def cjk(self) -> bool:
        """Characters count as words (zh, ja, ko, th, …); thresholds made for spaced words adapt."""
        return is_unsegmented(self.text, self.lang)

    @cached_property
    def lines(self) -> list[str]:
        """Non-blank lines, as they are (no stripping)."""
        return [line for line in self.text.split("\n") if line and not line.isspace()]

    @cached_property
    def paragraphs(self) -> list[str]:
        """Blocks separated by blank lines (the cleaner keeps at most one blank line in a row)."""
        return [p for p in _PARAGRAPH_RE.split(self.text.strip()) if p]

    @cached_property
    def tokens(self) -> list[str]:
        return _TOKEN_RE.findall(self.text)

    @cached_property
    def words(self) -> list[str]:
        """Tokens with a letter or digit, in order (the unit of word counts and n-grams)."""
        if not self.n_symbol_tokens:
            return self.tokens
        return words(self.text)

    @cached_property
    def n_symbol_tokens(self) -> int:
        return len(_SYMBOL_TOKEN_RE.findall(self.text))

    @cached_property
    def n_words(self) -> int:
        return len(self.tokens) - self.n_symbol_tokens

    @cached_property
    def word_chars(self) -> int:
        """Characters inside words (the denominator of the repetition fractions)."""
        return sum(map(len, self.words))

    @cached_property
    def n_alpha_tokens(self) -> int:
        """Tokens with at least one letter (Han and Kana characters are letters)."""
        return len(self.tokens) - len(_NO_ALPHA_TOKEN_RE.findall(self.text))


_last: tuple[str, str, TextStats] | None = None


def stats_for(doc: Document) -> TextStats:
    """The `TextStats` of `doc`'s current text, reused while the text object and language are unchanged.

    A one-entry cache keyed on the identity of `doc.text`: filters run one document at a time, and a filter that
    rewrites the text (C4's line removal) makes a new string, so later filters see fresh statistics.
    """
    global _last
    last = _last
    if last is not None and last[0] is doc.text and last[1] == doc.lang:
        return last[2]
    stats = TextStats(doc.text, doc.lang)
    _last = (doc.text, doc.lang, stats)
    return stats
