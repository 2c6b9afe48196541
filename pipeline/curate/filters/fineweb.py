"""FineWeb line statistics (Penedo et al. 2024, §3.3; datatrove FineWebQualityFilter), CJK-aware.

Lines are the non-blank lines of the cleaned text. For CJK a line is "short" at half the Latin character count
(`short_line_chars_cjk`) and words are characters in the newline-to-word ratio.
"""

from __future__ import annotations

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import FineWebConfig
from lmforge.pipeline.curate.text_stats import stats_for


class FineWebFilter(Filter):
    """Reject documents whose lines look like lists, menus or boilerplate rather than prose."""

    name = "fineweb"

    def __init__(self, config: FineWebConfig) -> None:
        self.config = config

    def filter(self, doc: Document) -> Verdict:
        c = self.config
        st = stats_for(doc)
        n_lines = st.n_lines
        if not n_lines:
            return False, "fineweb_empty"
        if st.n_punct_lines < c.min_line_punct_ratio * n_lines:
            return False, "fineweb_line_punct_ratio"
        limit = c.short_line_chars_cjk if st.cjk else c.short_line_chars
        if st.n_short_lines(limit) > c.max_short_line_ratio * n_lines:
            return False, "fineweb_short_line_ratio"
        _, dup_chars = st.line_duplicates
        newlines = st.n_newlines
        if dup_chars > c.max_dup_line_char_ratio * (len(st.text) - newlines):
            return False, "fineweb_dup_line_chars"
        if newlines > c.max_newline_word_ratio * st.n_words:
            return False, "fineweb_newline_word_ratio"
        return KEEP
