"""C4 cleaning (Raffel et al. 2020, §2.2; tensorflow_datasets c4_utils.clean_page), CJK-aware.

Line rules remove lines from the document (its text is rewritten, the document continues with the rest); page
rules reject it: "lorem ipsum", a curly bracket (off by default), or fewer than `min_sentences` sentences left.
The unit of the line rules is a paragraph by default (see `C4Config.unit`). Words are `text_stats.tokens` (CJK:
characters) and sentences end on the full stops of other scripts as well (`text_stats.count_sentences`). `_textstats.c4_units` judges all units in one call with the same
rules; `_judge_units_py` is the reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lmforge.pipeline.curate import text_stats
from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import C4Config
from lmforge.pipeline.curate.filters.phrases import Phrases
from lmforge.pipeline.curate.text_stats import ELLIPSES, TERMINAL_PUNCTUATION, count_sentences, tokens

_PARAGRAPH_SPLIT_RE = re.compile(r"\n[^\S\n]*\n")
_LINE_SPLIT_RE = re.compile("\n")
_TERMINAL_CHARS = "".join(TERMINAL_PUNCTUATION)

UnitsJudged = tuple[int, int, int, str | None]
"""(number of units, of kept units, sentences in the kept ones, the kept units joined when some were dropped)."""


class C4Filter(Filter):
    """Remove C4's junk lines (no end punctuation, javascript notices, policy boilerplate) and judge the rest."""

    name = "c4"

    def __init__(self, config: C4Config) -> None:
        self.config = config
        phrases = [p.strip() for p in config.policy_phrases] if config.drop_policy else []
        if config.drop_javascript:
            phrases.append("javascript")
        self._phrases = Phrases(phrases, ignore_case=True) if phrases else None
        self._lorem = Phrases(["lorem ipsum"], ignore_case=True, space_runs=True)
        self._joiner = "\n\n" if config.unit == "paragraph" else "\n"

    def filter(self, doc: Document) -> Verdict:
        c = self.config
        text = doc.text
        if c.reject_lorem_ipsum and self._lorem.search(text):
            return False, "c4_lorem_ipsum"
        if c.reject_curly_bracket and "{" in text:
            return False, "c4_curly_bracket"
        native = text_stats._textstats is not None and (self._phrases is None or self._phrases.uses_native())
        if native:
            _, n_kept, sentences, rewritten, scan = self._judge_units(doc)
        else:
            _, n_kept, sentences, rewritten = self._judge_units_py(text)
            scan = None
        if not n_kept:
            return False, "c4_no_lines_left"
        if sentences < c.min_sentences:
            return False, "c4_too_few_sentences"
        if rewritten is not None:
            doc.text = rewritten
            if scan is not None:
                text_stats.remember_scan(doc, scan)  # the filters after C4 need not scan the new text again
        return KEEP

    def _judge_units(self, doc: Document) -> tuple[int, int, int, str | None, object | None]:
        """The native twin of `_judge_units_py`, on the tokens and sentence ends the statistics found; with the
        scan of the rewritten text, derived from the one before (paragraph units), or None."""
        c = self.config
        phrases = self._phrases.native if self._phrases is not None else None
        return text_stats._textstats.c4_units(
            text_stats.stats_for(doc).scan,
            c.unit == "paragraph",
            _TERMINAL_CHARS,
            c.drop_no_terminal_punct,
            c.min_words_per_line,
            c.max_word_chars,
            phrases,
            True,
        )

    def _judge_units_py(self, text: str) -> UnitsJudged:
        spans = list(self._unit_spans(text))
        # One scan of the whole text tells whether any unit needs the per-unit phrase check.
        phrases = self._phrases if self._phrases is not None and self._phrases.search(text) else None
        kept = [text[start:end] for start, end in spans if self._keep_unit(text[start:end].strip(), phrases)]
        rewritten = self._joiner.join(u.strip("\n") for u in kept) if kept and len(kept) != len(spans) else None
        return len(spans), len(kept), sum(map(count_sentences, kept)), rewritten

    def _unit_spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where `re.split` (paragraphs) or `str.split("\\n")` (lines) would cut `text`."""
        separator = _PARAGRAPH_SPLIT_RE if self.config.unit == "paragraph" else _LINE_SPLIT_RE
        start = 0
        for match in separator.finditer(text):
            yield start, match.start()
            start = match.end()
        yield start, len(text)

    def _keep_unit(self, unit: str, phrases: Phrases | None) -> bool:
        c = self.config
        if not unit:
            return False
        if c.drop_no_terminal_punct and (not unit.endswith(TERMINAL_PUNCTUATION) or unit.endswith(ELLIPSES)):
            return False
        toks = tokens(unit)
        if max(map(len, toks)) > c.max_word_chars or len(toks) < c.min_words_per_line:
            return False
        return phrases is None or not phrases.search(unit)
