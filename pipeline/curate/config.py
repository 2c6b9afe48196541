"""Curation configuration: field names per source, cleaning, language ID, filters and per-source overrides."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from lmforge.pipeline.configuring import check
from lmforge.pipeline.curate.filters.config import FiltersConfig

_LANG_CODE = re.compile(r"[a-z]{2,3}")


@dataclass(kw_only=True, slots=True, frozen=True)
class FieldsConfig:
    """Where each snapshot column comes from in an input record (JSONL key or Parquet column). A name with dots
    reaches into nested objects or struct columns when no key has that name itself: `url = "meta.url"`."""

    id: str = "id"
    """Record id; `doc_id` is derived from source + this id (or from file + line when absent)."""
    text: str = "text"
    """The document text. A record without it (or with a non-string) is rejected."""
    url: str = "url"
    created_at: str = "created_at"
    source: str = "source"
    """A per-record source name; when absent the input's source name is used."""

    def __post_init__(self) -> None:
        for name in ("id", "text", "url", "created_at", "source"):
            check(bool(getattr(self, name)), f"curate.fields.{name}", "must name a key or column, got ''")


@dataclass(kw_only=True, slots=True, frozen=True)
class CleanConfig:
    invalid_utf8: Literal["reject", "replace"] = "reject"
    """Invalid UTF-8 bytes: reject the record (default) or decode with U+FFFD replacements."""
    nfc: bool = True
    """Unicode NFC normalisation."""
    strip_control: bool = True
    """Remove C0/C1 control characters other than newline and tab."""
    normalize_whitespace: bool = True
    """CRLF → LF, exotic spaces → ' ', trailing spaces stripped, at most one blank line in a row."""
    max_bytes: int = 10_000_000
    """Records larger than this (in bytes, before cleaning) are rejected as `too_large` without further work."""

    def __post_init__(self) -> None:
        check(self.max_bytes > 0, "clean.max_bytes", "must be positive")


@dataclass(kw_only=True, slots=True, frozen=True)
class LangIdConfig:
    max_chars: int = 800
    """Characters read by the classifier (py3langid, cost linear in length); a document's head tells its language."""
    languages: list[str] = field(default_factory=list)
    """Keep only these ISO 639-1 codes (empty: keep all)."""
    min_score: float = 0.0
    """Documents whose language probability is below this are rejected (`lang_low_score`)."""

    def __post_init__(self) -> None:
        check(self.max_chars > 0, "curate.langid.max_chars", f"must be positive, got {self.max_chars}")
        # NaN compares false both ways: it would keep every document; above 1 it would reject every one.
        check(0.0 <= self.min_score <= 1.0, "curate.langid.min_score", f"must be between 0 and 1, got {self.min_score}")
        for code in self.languages:
            # Detected languages are lower-case codes ("en", "zh"): "EN" would match no document and reject them all.
            check(
                _LANG_CODE.fullmatch(code) is not None,
                "curate.langid.languages",
                f"{code!r} is not a lower-case ISO 639-1 code such as 'en' (or 'und' for no language)",
            )


@dataclass(kw_only=True, slots=True, frozen=True)
class SourceConfig:
    """Overrides for one source, `[curate.sources.NAME]`; matched by the input's source name."""

    fields: FieldsConfig | None = None
    filters: dict[str, Any] = field(default_factory=dict)
    """Partial `[curate.filters]` tables merged over the defaults for this source's documents."""


@dataclass(kw_only=True, slots=True, frozen=True)
class CurateConfig:
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    text_extensions: list[str] = field(default_factory=lambda: [".txt", ".md", ".rst", ".text"])
    """In folder inputs, files with these extensions are documents (one per file)."""
    row_group_rows: int = 20_000
    """Rows per Parquet row group in snapshot files (row groups are the unit later stages fan out over)."""

    def __post_init__(self) -> None:
        check(self.row_group_rows > 0, "curate.row_group_rows", f"must be positive, got {self.row_group_rows}")
        for ext in self.text_extensions:
            # Matched against `Path.suffix` (".txt"): "txt" would match no file and the folder would read as empty.
            check(
                ext.startswith(".") and len(ext) > 1,
                "curate.text_extensions",
                f"{ext!r} is not a file extension; write it with its dot, as '.txt'",
            )
