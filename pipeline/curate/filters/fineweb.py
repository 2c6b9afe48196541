"""FineWeb line statistics (Penedo et al. 2024, §3.3; datatrove FineWebQualityFilter), CJK-aware.

Lines are the non-blank lines of the cleaned text. For CJK a line is "short" at half the Latin character count
(`short_line_chars_cjk`) and words are characters in the newline-to-word ratio.
"""

from __future__ import annotations

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import FineWebConfig
from lmforge.pipeline.curate.filters.gopher_repetition import duplicates
from lmforge.pipeline.curate.text_stats import TERMINAL_PUNCTUATION, stats_for


class FineWebFilter(Filter):
    """Reject documents whose lines look like lists, menus or boilerplate rather than prose."""

    name = "fineweb"

    def __init__(self, config: FineWebConfig) -> None:
        self.config = config

    def filter(self, doc: Document) -> Verdict:
        c = self.config
        st = stats_for(doc)
        lines = st.lines
        if not lines:
            return False, "fineweb_empty"
        n_lines = len(lines)
        punct = sum(1 for line in lines if line.rstrip().endswith(TERMINAL_PUNCTUATION))
        if punct < c.min_line_punct_ratio * n_lines:
            return False, "fineweb_line_punct_ratio"
        limit = c.short_line_chars_cjk if st.cjk else c.short_line_chars
        short = sum(1 for line in lines if len(line) <= limit)
        if short > c.max_short_line_ratio * n_lines:
            return False, "fineweb_short_line_ratio"
        _, dup_chars = duplicates(lines)
        if dup_chars > c.max_dup_line_char_ratio * (len(st.text) - st.text.count("\n")):
            return False, "fineweb_dup_line_chars"
        if st.text.count("\n") > c.max_newline_word_ratio * st.n_words:
            return False, "fineweb_newline_word_ratio"
        return KEEP
