"""Text statistics shared by the quality filters, CJK-aware and computed once per document.

A "token" is a run of non-space characters, except that every character of a script written without spaces
(Han, Kana, Hangul, Thai, Lao, Khmer, Myanmar) is a token of its own: so "Python 3.11 很好用。" has the tokens
"Python", "3.11", "很", "好", "用", "。". A "word" is a token with at least one letter or digit (Gopher counts
whitespace-separated words; punctuation stays attached to them, as it does here for spaced scripts).

`TextStats` defines every statistic with compiled regular expressions and builtins, lazily and cached: several
filters ask `stats_for(doc)` about the same document, and only the first question pays. It is the reference and
the fallback. `NativeTextStats` answers the same questions from one pass of the C extension `_textstats` (built
at install time when a compiler is there); the tests check that both give equal numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from itertools import compress, islice

from lmforge.pipeline.curate.document import Document

try:
    from lmforge.pipeline.curate import _textstats
except ImportError:  # built without a C compiler: the pure-Python statistics below give equal results
    _textstats = None

UNSEGMENTED_LANGS = frozenset({"zh", "yue", "wuu", "ja", "ko", "th", "lo", "km", "my"})
"""Codes of languages whose words are not (reliably) separated by spaces: characters count as words. `yue`
(Cantonese) and `wuu` (Wu) are Chinese written in Han characters, which py3langid names on their own."""

UNSEGMENTED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x2FA1F),  # CJK extensions B-F, compatibility supplement
)
"""Code point ranges of scripts written without spaces (`_textstats.c` holds the same table)."""

_U = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in UNSEGMENTED_RANGES)

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
    "۔",
    "｡",
    "។",
    "။",
)
"""Line endings that close a sentence: C4's `. ! ? "` (Raffel et al. 2020) plus closing quotes and the full stops
of CJK (。！？．｡」』), Arabic (؟, and ۔ of Urdu), Devanagari (। ॥), Armenian, Ethiopic, Khmer (។) and Myanmar (။)
scripts (all in datatrove's TERMINAL_PUNCTUATION)."""

BULLETS: tuple[str, ...] = ("•", "●", "◦", "▪", "‣", "·", "-", "*", "–", "—", "►", "➢", "✓")
"""Characters that open a bullet-list line (Gopher's bullet-line rule)."""

ELLIPSES: tuple[str, ...] = ("...", "…")
"""Endings that trail off rather than close a sentence (the C extension knows the same two)."""

# The C extension takes these as strings of single characters.
_TERMINAL_CHARS = "".join(TERMINAL_PUNCTUATION)
_BULLET_CHARS = "".join(BULLETS)
assert len(_TERMINAL_CHARS) == len(TERMINAL_PUNCTUATION) and len(_BULLET_CHARS) == len(BULLETS)

_SENTENCE_END_RE = re.compile(r"[.!?؟।॥۔]+[\"'”’)\]]*(?=\s|$)|[。！？．｡។။]+[」』”）]*")


def tokens(text: str) -> list[str]:
    """All tokens of `text` (see the module docstring): whitespace runs split, unsegmented scripts per character."""
    return _TOKEN_RE.findall(text)


def words(text: str) -> list[str]:
    """Tokens that contain a letter or digit; for zh/ja/ko/th text each character is a word."""
    symbol_free = _SYMBOL_TOKEN_RE.sub(" ", text)
    return _TOKEN_RE.findall(symbol_free)


def count_sentences(text: str) -> int:
    """Sentence ends in `text` (terminal punctuation before a space or the end; the full stops of scripts without
    spaces, 。！？．｡ and Khmer ។, Myanmar ။, anywhere), at least 1."""
    return max(1, len(_SENTENCE_END_RE.findall(text)))


def is_unsegmented(text: str, lang: str) -> bool:
    """True when `lang` is written without spaces, or most tokens are such characters whatever `lang` says: language
    ID reads only a text's head, so a Chinese article after an English abstract is `en` (dedup's shingles follow the
    script the same way)."""
    if lang in UNSEGMENTED_LANGS:
        return True
    return _mostly_unsegmented(text, None)


def _mostly_unsegmented(text: str, n_tokens: int | None) -> bool:
    """More than half of the tokens of `text` (`n_tokens` of them, when known) are unsegmented characters."""
    if text.isascii():  # most documents: no such character, and no regex pass
        return False
    if n_tokens is None:
        n_tokens = len(_TOKEN_RE.findall(text))
    return n_tokens > 0 and 2 * len(_UNSEGMENTED_RE.findall(text)) > n_tokens


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier item, their characters)."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    if n > len(words):  # no n-gram; and `range(n)` below would build n iterators (a config may say n = 10**9)
        return []
    return list(zip(*(islice(words, i, None) for i in range(n)), strict=False))


def top_ngram_chars(words: list[str], n: int) -> int:
    """Characters (excluding separators) covered by all occurrences of the most frequent n-gram."""
    grams = ngrams(words, n)
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return count * sum(map(len, gram)) if count > 1 else 0


def repeated_ngram_chars(words: list[str], n: int) -> int:
    """Characters of the words covered by occurrences of an n-gram that already appeared earlier in the text."""
    grams = ngrams(words, n)
    first = dict(zip(reversed(grams), range(len(grams) - 1, -1, -1), strict=True))
    if len(first) == len(grams):
        return 0
    covered = bytearray(len(words))
    ones = b"\x01" * n
    for i, gram in enumerate(grams):
        if first[gram] != i:
            covered[i : i + n] = ones
    return sum(compress(map(len, words), covered))


class TextStats:
    """Lazily computed statistics of one text; build it with `stats_for(doc)` to share it between filters."""

    def __init__(self, text: str, lang: str = "und") -> None:
        self.text = text
        self.lang = lang

    @cached_property
    def cjk(self) -> bool:
        """Characters count as words (zh, ja, ko, th, …, or a text mostly in such scripts); thresholds made for spaced
        words adapt."""
        return self.lang in UNSEGMENTED_LANGS or _mostly_unsegmented(self.text, self.n_tokens)

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
    def n_tokens(self) -> int:
        return len(self.tokens)

    @cached_property
    def n_symbol_tokens(self) -> int:
        return len(_SYMBOL_TOKEN_RE.findall(self.text))

    @cached_property
    def n_words(self) -> int:
        return self.n_tokens - self.n_symbol_tokens

    @cached_property
    def word_chars(self) -> int:
        """Characters inside words (the denominator of the repetition fractions)."""
        return sum(map(len, self.words))

    @cached_property
    def n_alpha_tokens(self) -> int:
        """Tokens with at least one letter (Han and Kana characters are letters)."""
        return self.n_tokens - len(_NO_ALPHA_TOKEN_RE.findall(self.text))

    @cached_property
    def n_hashes(self) -> int:
        """'#' characters (Gopher's hash-to-word ratio)."""
        return self.text.count("#")

    @cached_property
    def n_ellipses(self) -> int:
        """Non-overlapping "..." plus "…" (what a regex alternation of the two finds, left to right)."""
        return self.text.count("...") + self.text.count("…")

    @cached_property
    def n_newlines(self) -> int:
        return self.text.count("\n")

    @cached_property
    def n_lines(self) -> int:
        return len(self.lines)

    @cached_property
    def n_bullet_lines(self) -> int:
        """Lines whose first non-space character is one of `BULLETS`."""
        return sum(1 for line in self.lines if line.lstrip().startswith(BULLETS))

    @cached_property
    def n_ellipsis_lines(self) -> int:
        """Lines ending in an ellipsis (trailing spaces aside)."""
        return sum(1 for line in self.lines if line.rstrip().endswith(ELLIPSES))

    @cached_property
    def n_punct_lines(self) -> int:
        """Lines ending in `TERMINAL_PUNCTUATION` (trailing spaces aside)."""
        return sum(1 for line in self.lines if line.rstrip().endswith(TERMINAL_PUNCTUATION))

    def n_short_lines(self, limit: int) -> int:
        """Lines of at most `limit` characters."""
        return sum(1 for line in self.lines if len(line) <= limit)

    @cached_property
    def line_duplicates(self) -> tuple[int, int]:
        """(lines equal to an earlier line, their characters)."""
        return duplicates(self.lines)

    @cached_property
    def n_paragraphs(self) -> int:
        return len(self.paragraphs)

    @cached_property
    def paragraph_duplicates(self) -> tuple[int, int]:
        """(paragraphs equal to an earlier paragraph, their characters)."""
        return duplicates(self.paragraphs)

    def top_ngram_chars(self, n: int) -> int:
        """Word characters covered by the most frequent word n-gram (0 unless it repeats); see `top_ngram_chars`."""
        return top_ngram_chars(self.words, n)

    def repeated_ngram_chars(self, n: int) -> int:
        """Word characters covered by n-grams seen earlier; see `repeated_ngram_chars`."""
        return repeated_ngram_chars(self.words, n)


class NativeTextStats(TextStats):
    """The same statistics from one pass of `_textstats.scan`, as plain attributes (lists such as `words` stay
    the lazy Python ones). `scan` is the C object; C4 judges its units from the tokens and sentence ends it holds,
    and hands over the scan of the text it leaves (made from this one) as `scan` of the next statistics."""

    def __init__(self, text: str, lang: str = "und", scan: object | None = None) -> None:
        self.text = text
        self.lang = lang
        if scan is None:
            scan = _textstats.scan(text, _BULLET_CHARS, _TERMINAL_CHARS)
        self.scan = scan
        # Instance attributes shadow the cached properties of TextStats.
        self.n_tokens = scan.n_tokens
        self.n_symbol_tokens = scan.n_symbol_tokens
        self.n_words = scan.n_words
        self.word_chars = scan.word_chars
        self.n_alpha_tokens = scan.n_tokens - scan.n_no_alpha_tokens
        self.n_lines = scan.n_lines
        self.n_bullet_lines = scan.n_bullet_lines
        self.n_ellipsis_lines = scan.n_ellipsis_lines
        self.n_punct_lines = scan.n_punct_lines
        self.n_paragraphs = scan.n_paragraphs
        self.n_hashes = scan.n_hashes
        self.n_ellipses = scan.n_ellipses
        self.n_newlines = scan.n_newlines
        # is_unsegmented(text, lang) from the scan's counts.
        self.cjk = lang in UNSEGMENTED_LANGS or (scan.n_tokens > 0 and 2 * scan.n_unsegmented > scan.n_tokens)

    # Plain properties: the scan keeps the answer (functools.cached_property takes a lock on Python 3.11).
    @property
    def line_duplicates(self) -> tuple[int, int]:
        return self.scan.line_duplicates()

    @property
    def paragraph_duplicates(self) -> tuple[int, int]:
        return self.scan.paragraph_duplicates()

    def n_short_lines(self, limit: int) -> int:
        return self.scan.short_lines(limit)

    def top_ngram_chars(self, n: int) -> int:
        return self.scan.top_ngram_chars(n)

    def repeated_ngram_chars(self, n: int) -> int:
        return self.scan.repeated_ngram_chars(n)


_last: tuple[str, str, TextStats] | None = None


def stats_for(doc: Document) -> TextStats:
    """The statistics of `doc`'s current text, reused while the text object and language are unchanged.

    A one-entry cache keyed on the identity of `doc.text`: filters run one document at a time, and a filter that
    rewrites the text (C4's line removal) makes a new string, so later filters see fresh statistics.
    """
    global _last
    cls = NativeTextStats if _textstats is not None else TextStats
    last = _last
    if last is not None and last[0] is doc.text and last[1] == doc.lang and type(last[2]) is cls:
        return last[2]
    stats = cls(doc.text, doc.lang)
    _last = (doc.text, doc.lang, stats)
    return stats


def remember_scan(doc: Document, scan: object) -> None:
    """Let `stats_for(doc)` answer from `scan`, a native scan of `doc.text` made without reading it again (C4's
    rewritten text, from the scan of the text before)."""
    global _last
    _last = (doc.text, doc.lang, NativeTextStats(doc.text, doc.lang, scan))
