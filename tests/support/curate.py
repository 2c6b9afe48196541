"""Small real corpora for curation tests, and helpers to read what a snapshot holds."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.schemas.manifest import Manifest

DATA = Path(__file__).resolve().parent.parent / "data" / "curate"
DOCS = DATA / "docs.jsonl"


def read_docs() -> list[dict]:
    return [json.loads(line) for line in DOCS.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def read_folder(folder: Path, sub: str) -> pa.Table:
    files = sorted((folder / sub).glob("*.parquet"))
    if not files:
        return pa.table({})
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


NO_DEDUP = {"dedup": {"enabled": False}}


def curate_without_dedup(inputs, ws) -> tuple[Path, Manifest, pa.Table]:
    """Curate `inputs` into workspace `ws` (dedup off) → (snapshot folder, its manifest, its rejects)."""
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.curate.snapshot import curate

    snap = curate([str(p) for p in inputs], ws, load_config(overrides=NO_DEDUP))
    return snap, Manifest.read(snap), read_folder(snap, "rejects")


def jsonl_lines(docs: list[dict]) -> list[bytes]:
    """One JSONL line per doc (ids d0, d1, …)."""
    return [json.dumps({"id": f"d{i}", "text": d["text"]}).encode() + b"\n" for i, d in enumerate(docs)]


def accounted(manifest: Manifest, source: str) -> dict:
    """A source's counts in `manifest`, after checking documents in = kept + rejected."""
    src = manifest.stats["by_source"][source]
    assert src["docs_in"] == src["kept"] + sum(src["rejected"].values())
    return src
