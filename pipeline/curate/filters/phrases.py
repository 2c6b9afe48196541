"""Literal phrases found exactly where a compiled `re` alternation finds them, natively when the C extension is there.

The filters look for fixed phrases: C4's policy boilerplate and "lorem ipsum", Gopher's stop words. The regular
expression below is the definition; `_textstats.Phrases` finds the same matches without the regex engine's
per-position overhead. For re.IGNORECASE it needs re's own table of extra case equivalences (ſ ~ s, ı ~ i, …),
which lives in the private `re._casefix`; where that is missing, or a phrase list is one the native matcher does
not take (empty), the regex runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from lmforge.pipeline.curate import text_stats

try:
    from re._casefix import _EXTRA_CASES as _RE_EXTRA_CASES
except ImportError:  # another Python's layout: the regex path runs
    _RE_EXTRA_CASES = None


class Phrases:
    """Alternatives `phrases` (literal text), optionally case-insensitive and between word boundaries.

    `space_runs`: a space in a phrase matches any run of whitespace (`lorem\\s+ipsum`).
    """

    def __init__(
        self,
        phrases: Sequence[str],
        *,
        ignore_case: bool = False,
        word_bounded: bool = False,
        space_runs: bool = False,
    ) -> None:
        alternatives = [r"\s+".join(map(re.escape, p.split(" "))) if space_runs else re.escape(p) for p in phrases]
        body = "|".join(alternatives)
        if word_bounded:
            body = rf"(?<!\w)(?:{body})(?!\w)"
        self.pattern = re.compile(body, re.IGNORECASE if ignore_case else 0)
        self.native = None
        native = text_stats._textstats
        usable = phrases and all(phrases) and (_RE_EXTRA_CASES is not None or not ignore_case)
        if native is not None and usable:
            try:
                self.native = native.Phrases(
                    list(phrases),
                    ignore_case=ignore_case,
                    word_bounded=word_bounded,
                    space_runs=space_runs,
                    fixes=_RE_EXTRA_CASES,
                )
            except ValueError:  # e.g. two spaces in a row with space_runs: leave it to the regex
                self.native = None

    def uses_native(self) -> bool:
        """The C matcher answers (built, and the extension not switched off since, as the tests do)."""
        return self.native is not None and text_stats._textstats is not None

    def search(self, text: str) -> bool:
        """True when a phrase occurs in `text`."""
        if self.uses_native():
            return self.native.search(text) is not None
        return self.pattern.search(text) is not None

    def distinct(self, text: str, limit: int) -> int:
        """How many distinct lower-cased matches `text` holds, counting no further than `limit`."""
        if self.uses_native():
            return self.native.distinct(text, limit)
        if limit <= 0:
            return 0
        seen: set[str] = set()
        for start, end in self.spans(text):
            seen.add(text[start:end].lower())
            if len(seen) >= limit:
                break
        return len(seen)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of every match, left to right, as `pattern.finditer` gives them."""
        if not self.uses_native():
            for match in self.pattern.finditer(text):
                yield match.span()
            return
        pos = 0
        while (found := self.native.search(text, pos)) is not None:
            yield found
            pos = found[1]
