"""Build small, real snapshots for tests: the same on-disk contract the curate stage writes.

`make_snapshot(workspace, docs)` writes `<ws>/snapshots/<id>/data/part-*.parquet` (SNAPSHOT_SCHEMA) and a
`lmforge.snapshot` manifest inside `building(...)`, exactly as a finished curate run would leave it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.stage import building, stage_dir, stage_id, write_manifest
from lmforge.schemas.snapshot import SNAPSHOT_FORMAT, SNAPSHOT_SCHEMA

DATA = Path(__file__).resolve().parent.parent / "data"

#: Standard-library modules whose docstrings make a few hundred KB of real English prose and code.
STDLIB_MODULES = (
    "os",
    "json",
    "collections",
    "inspect",
    "pathlib",
    "argparse",
    "logging",
    "typing",
    "re",
    "subprocess",
    "functools",
    "itertools",
    "asyncio",
    "dataclasses",
    "email",
    "http.client",
    "urllib.request",
    "unittest",
    "csv",
    "sqlite3",
    "threading",
    "decimal",
    "fractions",
    "statistics",
    "textwrap",
    "string",
    "datetime",
)


def stdlib_docs(max_chars: int | None = None, min_len: int = 200) -> list[dict[str, str]]:
    """Docstrings of stdlib modules and their members as English documents, in a fixed order, deduplicated."""
    docs: dict[str, str] = {}
    for name in STDLIB_MODULES:
        module = importlib.import_module(name)
        for member, obj in [(name, module), *sorted(inspect.getmembers(module), key=lambda kv: kv[0])]:
            text = inspect.getdoc(obj)
            if text and len(text) >= min_len and text not in docs.values():
                docs[f"{name}.{member}"] = text
    out, total = [], 0
    for doc_id, text in docs.items():
        if max_chars is not None and total >= max_chars:
            break
        out.append({"doc_id": doc_id, "text": text, "lang": "en"})
        total += len(text)
    return out


def multilingual_docs() -> list[dict[str, str]]:
    """Hand-written German, Chinese and English texts with privacy placeholders (tests/data/tokenize)."""
    lines = (DATA / "tokenize" / "multilingual.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _row(doc: Mapping[str, Any], i: int) -> dict[str, Any]:
    text = doc["text"]
    return {
        "doc_id": doc.get("doc_id", f"doc-{i:06d}"),
        "text": text,
        "source": doc.get("source", "tests"),
        "url": doc.get("url"),
        "created_at": doc.get("created_at", datetime(2024, 1, 1, tzinfo=UTC)),
        "lang": doc.get("lang", "en"),
        "lang_score": float(doc.get("lang_score", 1.0)),
        "n_chars": len(text),
        "content_hash": hashlib.md5(text.encode("utf-8")).hexdigest(),
    }


def make_snapshot(
    workspace: str | Path,
    docs: Iterable[Mapping[str, Any]],
    *,
    files: int = 1,
    row_group_size: int | None = None,
) -> Path:
    """Write `docs` (dicts with `text` and optionally doc_id, lang, source, url) as a finished snapshot, in
    contiguous chunks over `files` Parquet files; returns the snapshot folder (existing one if identical)."""
    rows = [_row(d, i) for i, d in enumerate(docs)]
    content = hashlib.sha256(json.dumps([r["doc_id"] + "\0" + r["content_hash"] for r in rows]).encode()).hexdigest()
    params = {"files": files, "row_group_size": row_group_size}
    out = stage_dir(workspace, "snapshots", stage_id({"test_docs": content}, params))
    if (out / "manifest.json").is_file():
        return out
    with building(out) as tmp:
        (tmp / "data").mkdir()
        per_file = -(-len(rows) // files) if rows else 0
        counts = {}
        for f in range(files):
            chunk = rows[f * per_file : (f + 1) * per_file] if rows else []
            table = pa.Table.from_pylist(chunk, schema=SNAPSHOT_SCHEMA)
            rel = f"data/part-{f:05d}.parquet"
            pq.write_table(table, tmp / rel, row_group_size=row_group_size, compression="zstd")
            counts[rel] = {"rows": len(chunk)}
        write_manifest(
            tmp,
            format=SNAPSHOT_FORMAT,
            id_=out.name,
            inputs={"test_docs": content},
            params=params,
            stats={"docs": len(rows)},
            counts=counts,
        )
    return out
