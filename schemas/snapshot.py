"""Curated snapshot and rejects tables: pyarrow schemas for writing; `validate_snapshot` checks a table against the
pandera model in `schemas/snapshot_models.py` (imported only when validating: pandera and pandas take ~0.5 s to
import, which every curation worker process would otherwise pay)."""

from __future__ import annotations

import pyarrow as pa

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


def validate_snapshot(table: pa.Table, where: str) -> None:
    """Validate a snapshot table against SnapshotModel; raise IntegrityError naming the file and failing rows."""
    from pandera.errors import SchemaError, SchemaErrors

    from lmforge.pipeline.errors import IntegrityError
    from lmforge.schemas.snapshot_models import SnapshotModel

    if table.schema != SNAPSHOT_SCHEMA:
        raise IntegrityError(f"{where}: snapshot schema differs from the contract:\n{table.schema}")
    if table.num_rows == 0:
        return
    try:
        SnapshotModel.validate(table.to_pandas(), lazy=True)
    except (SchemaErrors, SchemaError) as exc:
        raise IntegrityError(f"{where}: snapshot rows fail validation: {str(exc)[:2000]}") from exc
