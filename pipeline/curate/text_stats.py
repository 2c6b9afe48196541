"""Text statistics shared by the quality filters, CJK-aware and computed once per document.

A "token" is a run of non-space characters, except that every character of a script written without spaces
(Han, Kana, Hangul, Thai, Lao, Tibetan, Khmer, Myanmar) is a token of its own, with the combining marks that follow
it (a grapheme cluster: "ที่" is one token, not three code points): so "Python 3.11 很好用。" has the tokens
"Python", "3.11", "很", "好", "用", "。". A "word" is a token with at least one letter or digit (Gopher counts
whitespace-separated words; punctuation stays attached to them, as it does here for spaced scripts). Counted in
code points, a Burmese or Thai character n-gram was one or two syllables (half of the characters are vowel signs,
tones and medials), so Gopher's repetition limits, made for words, rejected short ordinary Burmese prose.

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

UNSEGMENTED_LANGS = frozenset({"zh", "yue", "wuu", "ja", "ko", "th", "lo", "km", "my", "bo", "dz"})
"""Codes of languages whose words are not (reliably) separated by spaces: characters count as words. `yue`
(Cantonese) and `wuu` (Wu) are Chinese written in Han characters, which py3langid names on their own; Tibetan (`bo`)
and Dzongkha (`dz`, py3langid's name for Tibetan script) separate syllables by a tsheg (་), not by spaces."""

UNSEGMENTED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan (Dzongkha)
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

CLUSTER_MARK_RANGES: tuple[tuple[int, int], ...] = (
    (0x0300, 0x036F),  # combining diacritical marks
    (0x0E31, 0x0E31),  # Thai vowel and tone marks, and SARA AM (a spacing mark in UAX #29)
    (0x0E33, 0x0E3A),
    (0x0E47, 0x0E4E),
    (0x0EB1, 0x0EB1),  # Lao likewise
    (0x0EB3, 0x0EBC),
    (0x0EC8, 0x0ECD),
    (0x0F18, 0x0F19),  # Tibetan vowel signs, subjoined consonants and marks
    (0x0F35, 0x0F35),
    (0x0F37, 0x0F37),
    (0x0F39, 0x0F39),
    (0x0F3E, 0x0F3F),
    (0x0F71, 0x0F84),
    (0x0F86, 0x0F87),
    (0x0F8D, 0x0F97),
    (0x0F99, 0x0FBC),
    (0x0FC6, 0x0FC6),
    (0x102B, 0x103E),  # Myanmar vowel signs, medials, asat, virama, tones
    (0x1056, 0x1059),
    (0x105E, 0x1060),
    (0x1062, 0x1064),
    (0x1067, 0x106D),
    (0x1071, 0x1074),
    (0x1082, 0x108D),
    (0x108F, 0x108F),
    (0x109A, 0x109D),
    (0x17B4, 0x17D3),  # Khmer vowel signs, coeng, diacritics
    (0x17DD, 0x17DD),
    (0x1AB0, 0x1AFF),  # combining diacritical marks extended and supplement
    (0x1DC0, 0x1DFF),
    (0x200C, 0x200D),  # zero width non-joiner and joiner
    (0x20D0, 0x20FF),  # combining marks for symbols
    (0x3099, 0x309A),  # combining kana voiced sound marks
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFE20, 0xFE2F),  # combining half marks
    (0xE0100, 0xE01EF),  # variation selectors supplement (ideographic variation sequences)
)
"""Characters that join the unsegmented character before them (and its marks) into one token: the combining marks
(general category M) of those scripts and the combining blocks, plus what UAX #29 keeps in a grapheme cluster
besides (Thai and Lao AM, the joiners). `_textstats.c` holds the same table."""

_U = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in UNSEGMENTED_RANGES)
_M = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CLUSTER_MARK_RANGES)

# The marks outside the unsegmented ranges (those inside are unsegmented characters themselves).
_MX = "".join(
    f"{chr(lo)}-{chr(hi)}"
    for lo, hi in CLUSTER_MARK_RANGES
    if not any(ulo <= lo and hi <= uhi for ulo, uhi in UNSEGMENTED_RANGES)
)

_TOKEN_RE = re.compile(rf"[{_U}][{_M}]*|[^\s{_U}]+")
# Tokens without a letter or digit (punctuation/symbol runs): start after a boundary, end before one. Exact where
# every mark that joins an unsegmented token is itself unsegmented (`_plain` makes it so).
_SYMBOL_TOKEN_RE = re.compile(rf"(?<![^\s{_U}])(?:_|[^\w\s{_U}])+(?![^\s{_U}])")
_SYMBOL_RE = re.compile(rf"(?:_|[^\w\s{_U}])+")
# Tokens without a letter (digits and symbols only).
_NO_ALPHA_TOKEN_RE = re.compile(rf"(?<![^\s{_U}])(?:[\d_]|[^\w\s{_U}])+(?![^\s{_U}])")
_UNSEGMENTED_RE = re.compile(rf"[{_U}][{_M}]*")
# A mark from outside the unsegmented ranges joining an unsegmented token (a variation selector after a Han
# character, a joiner in Khmer), and all such marks: the regular expressions above would take it for a token.
_FOREIGN_MARK_RE = re.compile(rf"[{_U}][{_MX}]")
_FOREIGN_MARKS_RE = re.compile(rf"(?<=[{_U}])[{_MX}]+")
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
    "།",
    "༎",
)
"""Line endings that close a sentence: C4's `. ! ? "` (Raffel et al. 2020) plus closing quotes and the full stops
of CJK (。！？．｡」』), Arabic (؟, and ۔ of Urdu), Devanagari (। ॥), Armenian, Ethiopic, Khmer (។) and Myanmar (။)
scripts (all in datatrove's TERMINAL_PUNCTUATION), and Tibetan's shad and double shad (། ༎), which end its sentences
and sections."""

BULLETS: tuple[str, ...] = ("•", "●", "◦", "▪", "‣", "·", "-", "*", "–", "—", "►", "➢", "✓")
"""Characters that open a bullet-list line (Gopher's bullet-line rule)."""

ELLIPSES: tuple[str, ...] = ("...", "…")
"""Endings that trail off rather than close a sentence (the C extension knows the same two)."""

# The C extension takes these as strings of single characters.
_TERMINAL_CHARS = "".join(TERMINAL_PUNCTUATION)
_BULLET_CHARS = "".join(BULLETS)
assert len(_TERMINAL_CHARS) == len(TERMINAL_PUNCTUATION) and len(_BULLET_CHARS) == len(BULLETS)

_SENTENCE_END_RE = re.compile(r"[.!?؟।॥۔]+[\"'”’)\]]*(?=\s|$)|[。！？．｡។။།༎]+[」』”）]*")


def tokens(text: str) -> list[str]:
    """All tokens of `text` (see the module docstring): whitespace runs split, unsegmented scripts per character
    (with its combining marks)."""
    return _TOKEN_RE.findall(text)


def words(text: str) -> list[str]:
    """Tokens that contain a letter or digit; for zh/ja/ko/th text each character (with its marks) is a word."""
    if not text.isascii() and _FOREIGN_MARK_RE.search(text):  # rare: token by token
        return [t for t in _TOKEN_RE.findall(text) if not _SYMBOL_RE.fullmatch(t)]
    symbol_free = _SYMBOL_TOKEN_RE.sub(" ", text)
    return _TOKEN_RE.findall(symbol_free)


def _plain(text: str) -> str:
    """`text` without the marks from outside the unsegmented ranges that join an unsegmented token: the same tokens
    but for those marks, so the token regular expressions above count them exactly."""
    if text.isascii() or not _FOREIGN_MARK_RE.search(text):
        return text
    return _FOREIGN_MARKS_RE.sub("", text)


def count_sentences(text: str) -> int:
    """Sentence ends in `text` (terminal punctuation before a space or the end; the full stops of scripts without
    spaces, 。！？．｡ and Khmer ។, Myanmar ။, Tibetan ། ༎, anywhere), at least 1."""
    return max(1, len(_SENTENCE_END_RE.findall(text)))


def is_unsegmented(text: str, lang: str) -> bool:
    """True when `lang` is written without spaces, or most tokens are such characters whatever `lang` says: language
    ID reads only a text's head, so a Chinese article after an English abstract is `en` (dedup's shingles follow the
    script the same way)."""
    if lang in UNSEGMENTED_LANGS:
        return True
    return _mostly_unsegmented(text, None)


def _mostly_unsegmented(text: str, n_tokens: int | None) -> bool:
    """More than half of the tokens of `text` (`n_tokens` of them, when known) are unsegmented characters (each with
    its marks)."""
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
    def _plain(self) -> str:
        return _plain(self.text)

    @cached_property
    def n_symbol_tokens(self) -> int:
        return len(_SYMBOL_TOKEN_RE.findall(self._plain))

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
        return self.n_tokens - len(_NO_ALPHA_TOKEN_RE.findall(self._plain))

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
