"""Length bounds: the cheapest filter, run first."""

from __future__ import annotations

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.config import LengthConfig


class LengthFilter(Filter):
    """Reject documents shorter than `min_chars` or longer than `max_chars` (characters, after cleaning)."""

    name = "length"

    def __init__(self, config: LengthConfig) -> None:
        self.config = config

    def filter(self, doc: Document) -> Verdict:
        n = len(doc.text)
        if n < self.config.min_chars:
            return False, "length_too_short"
        if n > self.config.max_chars:
            return False, "length_too_long"
        return KEEP
