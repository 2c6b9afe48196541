"""Gopher quality heuristics (Rae et al. 2021, appendix A.1.1), CJK-aware.

For languages written without spaces (zh, ja, ko, th, …) every character is a word (see `text_stats`): the word
count bounds then count characters, the mean-word-length rule is skipped (it would always be 1), and the stop-word
lists for Chinese and Japanese hold single characters and particles.
"""

from __future__ import annotations

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import GopherQualityConfig
from lmforge.pipeline.curate.filters.phrases import Phrases
from lmforge.pipeline.curate.text_stats import UNSEGMENTED_LANGS, TextStats, stats_for


def _stop_word_phrases(lang: str, stops: list[str]) -> Phrases:
    alternatives = sorted(set(stops), key=len, reverse=True)
    if lang in UNSEGMENTED_LANGS:
        return Phrases(alternatives)
    return Phrases(alternatives, ignore_case=True, word_bounded=True)


class GopherQualityFilter(Filter):
    """Reject documents that do not look like human prose by Gopher's word, symbol, line and stop-word rules."""

    name = "gopher_quality"

    def __init__(self, config: GopherQualityConfig) -> None:
        self.config = config
        self._stop_words = {lang: _stop_word_phrases(lang, stops) for lang, stops in config.stop_words.items()}

    def filter(self, doc: Document) -> Verdict:
        c = self.config
        st = stats_for(doc)
        text = st.text
        n_words = st.n_words
        if n_words < c.min_words:
            return False, "gopher_too_few_words"
        if n_words > c.max_words:
            return False, "gopher_too_many_words"
        if n_words == 0:
            return False, "gopher_no_words"
        if not st.cjk:
            mean = st.word_chars / n_words
            if mean < c.min_mean_word_length:
                return False, "gopher_short_mean_word_length"
            if mean > c.max_mean_word_length:
                return False, "gopher_long_mean_word_length"
        if st.n_hashes > c.max_hash_ratio * n_words:
            return False, "gopher_hash_ratio"
        if st.n_ellipses > c.max_ellipsis_ratio * n_words:
            return False, "gopher_ellipsis_ratio"
        verdict = self._lines(st)
        if verdict is not KEEP:
            return verdict
        if st.n_alpha_tokens < c.min_alpha_words * st.n_tokens:
            return False, "gopher_few_alpha_words"
        stops = self._stop_words.get(doc.lang)
        if stops is not None and c.min_stop_words > 0 and not self._has_stop_words(stops, text):
            return False, "gopher_few_stop_words"
        return KEEP

    def _lines(self, st: TextStats) -> Verdict:
        n_lines = st.n_lines
        if not n_lines:
            return KEEP
        if st.n_bullet_lines > self.config.max_bullet_lines * n_lines:
            return False, "gopher_bullet_lines"
        if st.n_ellipsis_lines > self.config.max_ellipsis_lines * n_lines:
            return False, "gopher_ellipsis_lines"
        return KEEP

    def _has_stop_words(self, stops: Phrases, text: str) -> bool:
        """True once `min_stop_words` distinct stop words were seen (stops scanning early: usually in line one)."""
        wanted = self.config.min_stop_words
        return stops.distinct(text, wanted) >= wanted
