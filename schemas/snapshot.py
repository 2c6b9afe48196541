"""Curated snapshot and rejects tables: pyarrow schemas for writing, pandera models for validating."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa_
import pyarrow as pa
from pandera.typing import Series

SNAPSHOT_FORMAT = "lmforge.snapshot"
SNAPSHOT_VERSION = 1

SNAPSHOT_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("lang_score", pa.float32(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
    ]
)

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("line", pa.int64()),
        pa.field("step", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("text", pa.string()),
        pa.field("duplicate_of", pa.string()),
        pa.field("similarity", pa.float32()),
    ]
)

DUPLICATES_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string(), nullable=False),
        pa.field("similarity", pa.float32(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


class SnapshotModel(pa_.DataFrameModel):
    """One kept, cleaned, PII-redacted document."""

    doc_id: Series[str] = pa_.Field(unique=True, str_length={"min_value": 1})
    text: Series[str] = pa_.Field(str_length={"min_value": 1})
    source: Series[str] = pa_.Field(str_length={"min_value": 1})
    url: Series[str] = pa_.Field(nullable=True)
    created_at: Series[pd.DatetimeTZDtype] = pa_.Field(nullable=True, dtype_kwargs={"unit": "us", "tz": "UTC"})
    lang: Series[str] = pa_.Field(str_length={"min_value": 2, "max_value": 8})
    lang_score: Series[np.float32] = pa_.Field(ge=0.0, le=1.0)
    n_chars: Series[int] = pa_.Field(gt=0)
    content_hash: Series[str] = pa_.Field(str_matches=r"^[0-9a-f]{32}$")

    class Config:
        strict = True
        coerce = False

    @pa_.dataframe_check
    def n_chars_matches_text(cls, df) -> Series[bool]:  # noqa: N805
        return df["text"].str.len() == df["n_chars"]


class RejectsModel(pa_.DataFrameModel):
    """One removed record, with the step and reason that removed it."""

    doc_id: Series[str] = pa_.Field(nullable=True)
    source: Series[str]
    path: Series[str]
    line: Series[float] = pa_.Field(nullable=True, coerce=True)
    step: Series[str]
    reason: Series[str] = pa_.Field(str_length={"min_value": 1})
    detail: Series[str] = pa_.Field(nullable=True)
    text: Series[str] = pa_.Field(nullable=True)
    duplicate_of: Series[str] = pa_.Field(nullable=True)
    similarity: Series[float] = pa_.Field(nullable=True, coerce=True)

    class Config:
        strict = True


def validate_snapshot(table: pa.Table, where: str) -> None:
    """Validate a snapshot table against SnapshotModel; raise IntegrityError naming the file and failing rows."""
    from lmforge.pipeline.errors import IntegrityError

    if table.schema != SNAPSHOT_SCHEMA:
        raise IntegrityError(f"{where}: snapshot schema differs from the contract:\n{table.schema}")
    if table.num_rows == 0:
        return
    try:
        SnapshotModel.validate(table.to_pandas(), lazy=True)
    except (pa_.errors.SchemaErrors, pa_.errors.SchemaError) as exc:
        raise IntegrityError(f"{where}: snapshot rows fail validation: {str(exc)[:2000]}") from exc
