"""The record that flows through curation steps, and the reject that leaves them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class Document:
    """One document between reading and the snapshot. `path`/`line` say where it came from (for errors)."""

    doc_id: str
    text: str
    source: str
    path: str
    line: int | None = None
    url: str | None = None
    created_at: datetime | None = None
    lang: str = "und"
    lang_score: float = 0.0


@dataclass(slots=True)
class Reject:
    """A record removed by `step` for `reason`; `text` is redacted before it is written anywhere."""

    source: str
    path: str
    line: int | None
    step: str
    reason: str
    detail: str | None = None
    text: str | None = None
    doc_id: str | None = None
    duplicate_of: str | None = None
    similarity: float | None = None
    record_id: str | None = None
    """The record's own id, when it has one: its reject's doc_id is made from it as a kept document's would be."""
    redacted: bool = False
    """`text` went through the privacy filter already (redaction is idempotent, so this only saves the work)."""
