"""Quality filters: each answers "keep this document?" and, when not, why (see `base.Filter`)."""

from __future__ import annotations

from lmforge.pipeline.curate.filters.base import KEEP, Filter, Verdict
from lmforge.pipeline.curate.filters.c4 import C4Filter
from lmforge.pipeline.curate.filters.config import FiltersConfig
from lmforge.pipeline.curate.filters.fineweb import FineWebFilter
from lmforge.pipeline.curate.filters.gopher_quality import GopherQualityFilter
from lmforge.pipeline.curate.filters.gopher_repetition import GopherRepetitionFilter
from lmforge.pipeline.curate.filters.length import LengthFilter

__all__ = [
    "KEEP",
    "C4Filter",
    "Filter",
    "FineWebFilter",
    "GopherQualityFilter",
    "GopherRepetitionFilter",
    "LengthFilter",
    "Verdict",
    "build_filters",
]


def build_filters(config: FiltersConfig) -> list[Filter]:
    """The enabled filters, cheapest and most general first: length, gopher_quality, gopher_repetition, c4, fineweb.

    C4 may shorten a document's text (line removal), so FineWeb, after it, judges the lines that remain.
    """
    if not config.enabled:
        return []
    steps: list[tuple[bool, Filter]] = [
        (config.length.enabled, LengthFilter(config.length)),
        (config.gopher_quality.enabled, GopherQualityFilter(config.gopher_quality)),
        (config.gopher_repetition.enabled, GopherRepetitionFilter(config.gopher_repetition)),
        (config.c4.enabled, C4Filter(config.c4)),
        (config.fineweb.enabled, FineWebFilter(config.fineweb)),
    ]
    return [f for enabled, f in steps if enabled]
