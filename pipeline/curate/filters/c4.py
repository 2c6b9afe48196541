"""C4 cleaning (Raffel et al. 2020, §2.2; tensorflow_datasets c4_utils.clean_page), CJK-aware.

Line rules remove lines from the document (its text is rewritten, the document continues with the rest); page
rules reject it: "lorem ipsum", a curly bracket (off by default), or fewer than `min_sentences` sentences left.
The unit of the line rules is a paragraph by default (see `C4Config.unit`). Words are `text_stats.tokens` (CJK:
characters) and sentences end on 。！？ as well.
"""

from __future__ import annotations

import re

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import C4Config
from lmforge.pipeline.curate.text_stats import TERMINAL_PUNCTUATION, count_sentences, tokens

_PARAGRAPH_SPLIT_RE = re.compile(r"\n[^\S\n]*\n")
_LOREM_RE = re.compile(r"lorem\s+ipsum", re.IGNORECASE)
_ELLIPSES = ("...", "…")


class C4Filter(Filter):
    """Remove C4's junk lines (no end punctuation, javascript notices, policy boilerplate) and judge the rest."""

    name = "c4"

    def __init__(self, config: C4Config) -> None:
        self.config = config
        phrases = [re.escape(p.strip()) for p in config.policy_phrases] if config.drop_policy else []
        if config.drop_javascript:
            phrases.append("javascript")
        # One case-insensitive scan of the whole text tells whether any unit needs the per-unit phrase check.
        self._phrase_re = re.compile("|".join(phrases), re.IGNORECASE) if phrases else None
        self._joiner = "\n\n" if config.unit == "paragraph" else "\n"

    def filter(self, doc: Document) -> Verdict:
        c = self.config
        text = doc.text
        if c.reject_lorem_ipsum and _LOREM_RE.search(text):
            return False, "c4_lorem_ipsum"
        if c.reject_curly_bracket and "{" in text:
            return False, "c4_curly_bracket"
        units = _PARAGRAPH_SPLIT_RE.split(text) if c.unit == "paragraph" else text.split("\n")
        phrase_re = self._phrase_re if self._phrase_re is not None and self._phrase_re.search(text) else None
        kept = [u for u in units if self._keep_unit(u.strip(), phrase_re)]
        if not kept:
            return False, "c4_no_lines_left"
        if sum(count_sentences(u) for u in kept) < c.min_sentences:
            return False, "c4_too_few_sentences"
        if len(kept) != len(units):
            doc.text = self._joiner.join(u.strip("\n") for u in kept)
        return KEEP

    def _keep_unit(self, unit: str, phrase_re: re.Pattern[str] | None) -> bool:
        c = self.config
        if not unit:
            return False
        if c.drop_no_terminal_punct and (not unit.endswith(TERMINAL_PUNCTUATION) or unit.endswith(_ELLIPSES)):
            return False
        toks = tokens(unit)
        if max(map(len, toks)) > c.max_word_chars or len(toks) < c.min_words_per_line:
            return False
        return phrase_re is None or phrase_re.search(unit) is None
