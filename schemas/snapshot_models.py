"""pandera models of the curated snapshot and rejects tables (their pyarrow schemas are in `schemas/snapshot.py`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa_
from pandera.typing import Series


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
    """The input file, named as record ids name it (its folder's name and its name, or its path inside the input
    folder: `inputs.file_key`), not as typed, so one snapshot id is one set of bytes; "" for dedup removals."""
    line: Series[float] = pa_.Field(nullable=True, coerce=True)
    step: Series[str]
    reason: Series[str] = pa_.Field(str_length={"min_value": 1})
    detail: Series[str] = pa_.Field(nullable=True)
    text: Series[str] = pa_.Field(nullable=True)
    duplicate_of: Series[str] = pa_.Field(nullable=True)
    similarity: Series[float] = pa_.Field(nullable=True, coerce=True)

    class Config:
        strict = True
