"""Gopher repetition heuristics (Rae et al. 2021, table A1), CJK-aware and fast on clean text.

Fractions of characters are taken over the characters inside words (`TextStats.word_chars`) for n-grams, and over
the whole text for lines and paragraphs. For CJK an n-gram is n characters. N-grams are tuples of words counted by
C-level builtins (`zip`, `Counter`, `dict`); a document without any repeated 5-gram, the usual case for prose,
skips the longer n-grams entirely (a repeated n-gram contains a repeated 5-gram).
"""

from __future__ import annotations

from collections import Counter
from itertools import compress, islice

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import GopherRepetitionConfig
from lmforge.pipeline.curate.text_stats import stats_for


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier item, their characters)."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
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


class GopherRepetitionFilter(Filter):
    """Reject documents that repeat lines, paragraphs or n-grams more than Gopher's table A1 allows."""

    name = "gopher_repetition"

    def __init__(self, config: GopherRepetitionConfig) -> None:
        self.config = config
        self._top = sorted((int(n), frac) for n, frac in config.top_ngrams.items())
        self._dup = sorted((int(n), frac) for n, frac in config.dup_ngrams.items())

    def filter(self, doc: Document) -> Verdict:
        c = self.config
        st = stats_for(doc)
        n_chars = len(st.text)
        if n_chars == 0:
            return KEEP
        paragraphs = st.paragraphs
        if paragraphs:
            dup, dup_chars = duplicates(paragraphs)
            if dup > c.max_dup_para_frac * len(paragraphs):
                return False, "gopher_dup_paragraphs"
            if dup_chars > c.max_dup_para_char_frac * n_chars:
                return False, "gopher_dup_paragraph_chars"
        lines = st.lines
        if lines:
            dup, dup_chars = duplicates(lines)
            if dup > c.max_dup_line_frac * len(lines):
                return False, "gopher_dup_lines"
            if dup_chars > c.max_dup_line_char_frac * n_chars:
                return False, "gopher_dup_line_chars"
        return self._ngrams(st.words, st.word_chars)

    def _ngrams(self, words: list[str], word_chars: int) -> Verdict:
        if word_chars == 0:
            return KEEP
        for n, frac in self._top:
            if top_ngram_chars(words, n) > frac * word_chars:
                return False, f"gopher_top_{n}gram"
        for n, frac in self._dup:
            chars = repeated_ngram_chars(words, n)
            if chars > frac * word_chars:
                return False, f"gopher_dup_{n}gram"
            if chars == 0:
                # No repeated n-gram means no repeated longer one either.
                break
        return KEEP
