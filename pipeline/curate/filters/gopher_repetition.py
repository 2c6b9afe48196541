"""Gopher repetition heuristics (Rae et al. 2021, table A1), CJK-aware and fast on clean text.

Fractions of characters are taken over the characters inside words (`TextStats.word_chars`) for n-grams, and over
the whole text for lines and paragraphs. For CJK an n-gram is n characters, each with its combining marks (Thai,
Burmese). The counts come from `text_stats` (`duplicates`, `top_ngram_chars`, `repeated_ngram_chars`, or the C
extension's equal numbers); a document without any repeated 5-gram, the usual case for prose, skips the longer
n-grams entirely (a repeated n-gram contains a repeated 5-gram).
"""

from __future__ import annotations

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import GopherRepetitionConfig
from lmforge.pipeline.curate.text_stats import TextStats, stats_for


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
        n_paragraphs = st.n_paragraphs
        if n_paragraphs:
            dup, dup_chars = st.paragraph_duplicates
            if dup > c.max_dup_para_frac * n_paragraphs:
                return False, "gopher_dup_paragraphs"
            if dup_chars > c.max_dup_para_char_frac * n_chars:
                return False, "gopher_dup_paragraph_chars"
        n_lines = st.n_lines
        if n_lines:
            dup, dup_chars = st.line_duplicates
            if dup > c.max_dup_line_frac * n_lines:
                return False, "gopher_dup_lines"
            if dup_chars > c.max_dup_line_char_frac * n_chars:
                return False, "gopher_dup_line_chars"
        return self._ngrams(st)

    def _ngrams(self, st: TextStats) -> Verdict:
        word_chars = st.word_chars
        if word_chars == 0:
            return KEEP
        for n, frac in self._top:
            if st.top_ngram_chars(n) > frac * word_chars:
                return False, f"gopher_top_{n}gram"
        for n, frac in self._dup:
            chars = st.repeated_ngram_chars(n)
            if chars > frac * word_chars:
                return False, f"gopher_dup_{n}gram"
            if chars == 0:
                # No repeated n-gram means no repeated longer one either.
                break
        return KEEP
