"""Gopher quality heuristics (Rae et al. 2021, appendix A.1.1), CJK-aware.

For languages written without spaces (zh, ja, ko, th, …) every character is a word (see `text_stats`): the word
count bounds then count characters, the mean-word-length rule is skipped (it would always be 1), and the stop-word
lists for Chinese and Japanese hold single characters and particles.
"""

from __future__ import annotations

import re

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import GopherQualityConfig
from lmforge.pipeline.curate.text_stats import UNSEGMENTED_LANGS, stats_for

BULLETS: tuple[str, ...] = ("•", "●", "◦", "▪", "‣", "·", "-", "*", "–", "—", "►", "➢", "✓")
"""Characters that open a bullet-list line."""

_ELLIPSIS_RE = re.compile(r"\.\.\.|…")


def _stop_word_pattern(lang: str, stops: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(s) for s in sorted(set(stops), key=len, reverse=True))
    if lang in UNSEGMENTED_LANGS:
        return re.compile(f"(?:{alternatives})")
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


class GopherQualityFilter(Filter):
    """Reject documents that do not look like human prose by Gopher's word, symbol, line and stop-word rules."""

    name = "gopher_quality"

    def __init__(self, config: GopherQualityConfig) -> None:
        self.config = config
        self._stop_patterns = {lang: _stop_word_pattern(lang, stops) for lang, stops in config.stop_words.items()}

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
        if text.count("#") > c.max_hash_ratio * n_words:
            return False, "gopher_hash_ratio"
        if len(_ELLIPSIS_RE.findall(text)) > c.max_ellipsis_ratio * n_words:
            return False, "gopher_ellipsis_ratio"
        verdict = self._lines(st.lines)
        if verdict is not KEEP:
            return verdict
        if st.n_alpha_tokens < c.min_alpha_words * len(st.tokens):
            return False, "gopher_few_alpha_words"
        pattern = self._stop_patterns.get(doc.lang)
        if pattern is not None and c.min_stop_words > 0 and not self._has_stop_words(pattern, text):
            return False, "gopher_few_stop_words"
        return KEEP

    def _lines(self, lines: list[str]) -> Verdict:
        if not lines:
            return KEEP
        bullets = sum(1 for line in lines if line.lstrip().startswith(BULLETS))
        if bullets > self.config.max_bullet_lines * len(lines):
            return False, "gopher_bullet_lines"
        ellipsis = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
        if ellipsis > self.config.max_ellipsis_lines * len(lines):
            return False, "gopher_ellipsis_lines"
        return KEEP

    def _has_stop_words(self, pattern: re.Pattern[str], text: str) -> bool:
        """True once `min_stop_words` distinct stop words were seen (stops scanning early: usually in line one)."""
        seen: set[str] = set()
        for match in pattern.finditer(text):
            seen.add(match.group().lower())
            if len(seen) >= self.config.min_stop_words:
                return True
        return False
