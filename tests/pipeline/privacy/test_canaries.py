"""The canary kit the acceptance test relies on: every canary is caught by the filter, and the scanner finds
planted canaries in every file kind a run writes (Parquet, SQLite, gzip, zstd, JSON, logs, raw bytes, shards)."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from lmforge.pipeline.privacy import Redactor, scan
from tests.support.canaries import CANARIES, canary_documents, find_canaries


def test_canaries_are_unique_and_cover_types_and_languages() -> None:
    assert len(CANARIES) >= 20
    assert len({c.needle for c in CANARIES}) == len(CANARIES) == len({c.name for c in CANARIES})
    assert {c.lang for c in CANARIES} == {"en", "de", "zh", "code"}
    assert {c.type for c in CANARIES} >= {
        "EMAIL",
        "PHONE",
        "IPV4",
        "IPV6",
        "CREDIT_CARD",
        "IBAN",
        "US_SSN",
        "CN_ID",
        "SECRET",
    }


@pytest.mark.parametrize("canary", CANARIES, ids=lambda c: c.name)
def test_every_canary_is_detected_with_its_type(canary) -> None:
    start = canary.sentence.index(canary.needle)
    spans = scan(canary.sentence)
    assert any(s.type == canary.type and s.start <= start and s.end >= start + len(canary.needle) for s in spans)


def test_documents_plant_every_canary_and_redaction_removes_all() -> None:
    docs = canary_documents()
    planted = {c.name for c in CANARIES for d in docs if c.needle in d["text"]}
    assert planted == {c.name for c in CANARIES}
    assert all({"id", "text", "source"} <= set(d) for d in docs)
    prose = [d for d in docs if d["lang"] in ("en", "de") and not d["id"].startswith("canary-code")]
    assert prose and all(len(d["text"].split()) >= 60 for d in prose)
    redactor = Redactor()
    for doc in docs:
        text = redactor.redact(doc["text"]).text
        assert [c.name for c in CANARIES if c.needle in text or (c.digits and c.digits in text)] == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """One file of each kind, each holding a different canary (the expected name is in the file's stem)."""
    c = {canary.name: canary for canary in CANARIES}
    root = tmp_path / "ws"
    (root / "snap").mkdir(parents=True)
    pq.write_table(
        pa.table({"doc_id": ["x"], "text": [c["email_en"].sentence], "n": [1]}), root / "snap" / "email_en.parquet"
    )
    con = sqlite3.connect(root / "phone_de.db")
    con.execute("CREATE TABLE params (key TEXT, value BLOB)")
    con.execute("INSERT INTO params VALUES (?, ?)", ("note", c["phone_de"].sentence.encode()))
    con.commit()
    con.close()
    (root / "card_en.log.gz").write_bytes(gzip.compress(c["card_en"].sentence.encode()))
    (root / "iban_de.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(c["iban_de"].sentence.encode()))
    (root / "cn_id_zh.json").write_text(json.dumps({"t": c["cn_id_zh"].sentence}), encoding="utf-8")  # \u escapes
    (root / "aws_key_code.log").write_text("INFO " + c["aws_key_code"].sentence + "\n", encoding="utf-8")
    (root / "ipv4_en.bin").write_bytes(b"\x00\x01" + c["ipv4_en"].needle.encode() + b"\xff")
    # digits-only form, as a tokenizer or a number cleaner might leave it
    (root / "digits_card_de.md").write_text("id " + c["card_de"].digits + "\n", encoding="utf-8")
    (root / "shard.tok").write_bytes(bytes([7, 7, 7]))
    return root


def test_find_canaries_in_every_file_kind(planted: Path) -> None:
    hits = find_canaries([planted])
    found = {(Path(p).name, name) for p, name in hits}
    assert found == {
        ("email_en.parquet", "email_en"),
        ("phone_de.db", "phone_de"),
        ("card_en.log.gz", "card_en"),
        ("iban_de.txt.zst", "iban_de"),
        ("cn_id_zh.json", "cn_id_zh"),
        ("aws_key_code.log", "aws_key_code"),
        ("ipv4_en.bin", "ipv4_en"),
        ("digits_card_de.md", "card_de"),
    }


def test_decoders_plug_in_per_suffix(planted: Path) -> None:
    needle = CANARIES[0]
    hits = find_canaries([planted / "shard.tok"], decoders={".tok": lambda path: [f"decoded {needle.needle}"]})
    assert hits == [(str(planted / "shard.tok"), needle.name)]


def test_redacted_outputs_hold_no_canary(tmp_path: Path) -> None:
    redactor = Redactor()
    texts = [redactor.redact(d["text"]).text for d in canary_documents()]
    pq.write_table(pa.table({"text": texts}), tmp_path / "snapshot.parquet")
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in texts), encoding="utf-8")
    assert find_canaries([tmp_path]) == []
