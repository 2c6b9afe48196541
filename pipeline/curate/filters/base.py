"""The filter contract (datatrove style): a filter only answers "keep?" and, when not, why.

Counting and routing rejects happen once, in `pipeline.curate.process`.
"""

from __future__ import annotations

from typing import ClassVar

from lmforge.pipeline.curate.document import Document

Verdict = tuple[bool, str | None]
KEEP: Verdict = (True, None)


class Filter:
    """Base class: subclasses set `name` (the step name in rejects) and implement `filter`."""

    name: ClassVar[str] = "filter"

    def filter(self, doc: Document) -> Verdict:
        """Return (True, None) to keep `doc`, or (False, reason) to reject it; reasons are short snake_case."""
        raise NotImplementedError
