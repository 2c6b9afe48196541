"""Build small snapshot parts from real paragraphs (tests/data/dedup/) for the dedup tests."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.schemas.snapshot import SNAPSHOT_SCHEMA

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup"


def paragraphs(lang: str = "en") -> list[str]:
    return (DATA / f"{lang}.txt").read_text(encoding="utf-8").splitlines()


def edit_words(text: str, fraction: float, seed: int) -> str:
    """Replace `fraction` of the words by a marker word (a light near-duplicate)."""
    words = text.split()
    rng = random.Random(seed)
    for i in rng.sample(range(len(words)), max(1, round(len(words) * fraction))):
        words[i] = f"edited{i}"
    return " ".join(words)


def doc(doc_id: str, text: str, lang: str = "en", day: int | None = 1) -> dict:
    return {
        "doc_id": doc_id,
        "text": text,
        "lang": lang,
        "created_at": None if day is None else datetime(2024, 1, day, tzinfo=UTC),
    }


def write_part(path: Path, docs: list[dict]) -> Path:
    rows = {
        "doc_id": [d["doc_id"] for d in docs],
        "text": [d["text"] for d in docs],
        "source": ["test"] * len(docs),
        "url": [None] * len(docs),
        "created_at": [d["created_at"] for d in docs],
        "lang": [d["lang"] for d in docs],
        "lang_score": [1.0] * len(docs),
        "n_chars": [len(d["text"]) for d in docs],
        "content_hash": [hashlib.md5(d["text"].encode()).hexdigest() for d in docs],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(rows, schema=SNAPSHOT_SCHEMA), path)
    return path
