"""Odd but real input files: each is read as its records, or is one reject naming the file and line/row, and
documents in = kept + rejected holds."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.snapshot import curate
from tests.support.curate import NO_DEDUP, read_docs, read_folder
from tests.support.curate import accounted as _accounted
from tests.support.curate import curate_without_dedup as _run
from tests.support.curate import jsonl_lines as _lines


def test_a_parquet_timestamp_past_the_year_9999_is_no_date_not_a_crash(tmp_path):
    """Python's datetime stops at the year 9999; Parquet timestamps in seconds or milliseconds (and dates) go far
    beyond (a sentinel, or milliseconds written as seconds). Such a row is kept without a date, as an unparseable
    `created_at` string is, and the file's other rows keep theirs."""
    docs = read_docs()[:3]
    path = tmp_path / "far.parquet"
    seconds = [1_700_000_000, 1_700_000_000_000, 1_700_000_000]  # row 2: milliseconds written as seconds
    table = pa.table(
        {
            "id": [f"d{i}" for i in range(3)],
            "text": [d["text"] for d in docs],
            "created_at": pa.array(seconds, pa.timestamp("s", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    snap, manifest, _ = _run([path], tmp_path / "ws")
    assert _accounted(manifest, "far")["docs_in"] == 3
    when = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    dates = {r["doc_id"]: r["created_at"] for r in read_folder(snap, "data").to_pylist()}
    assert dates == {"far/d0": when, "far/d1": None, "far/d2": when}


def test_a_json_integer_too_long_for_python_is_one_malformed_line(tmp_path):
    """Python refuses to parse an integer of more than 4300 digits (a ValueError, not a JSONDecodeError): that line
    is rejected as malformed, and the lines around it are read."""
    docs = read_docs()[:2]
    lines = _lines(docs)
    path = tmp_path / "digits.jsonl"
    path.write_bytes(lines[0] + b'{"id": "long", "n": ' + b"9" * 5000 + b', "text": "x"}\n' + lines[1])
    _, manifest, rejects = _run([path], tmp_path / "ws")
    assert [(r["reason"], r["line"]) for r in rejects.to_pylist()] == [("malformed_json", 2)]
    assert "4300" in rejects.column("detail")[0].as_py()
    assert _accounted(manifest, "digits") == {"docs_in": 3, "kept": 2, "rejected": {"malformed_json": 1}}


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_a_byte_order_mark_inside_the_file_is_not_an_error(tmp_path, suffix):
    """`cat a.jsonl b.jsonl` (or of their .gz/.zst) where b was saved by a Windows tool puts b's byte-order mark at
    the start of a line inside the file: an encoding mark there too, so b's first record stays a document."""
    docs = read_docs()[:4]
    lines = _lines(docs)
    parts = [b"".join(lines[:2]), b"\xef\xbb\xbf" + b"".join(lines[2:])]
    pack = {".jsonl": bytes, ".jsonl.gz": gzip.compress, ".jsonl.zst": zstandard.compress}[suffix]
    path = tmp_path / f"joined{suffix}"
    path.write_bytes(b"".join(pack(p) for p in parts))
    _, manifest, rejects = _run([path], tmp_path / "ws")
    assert len(rejects) == 0
    assert _accounted(manifest, "joined") == {"docs_in": 4, "kept": 4, "rejected": {}}


@pytest.mark.parametrize(
    ("name", "pack"),
    [
        ("plain.jsonl", gzip.compress),  # saved by a tool that does not decompress
        ("plain.ndjson", zstandard.compress),
        ("wrong.jsonl.gz", zstandard.compress),
        ("wrong.jsonl.zst", gzip.compress),
    ],
)
def test_a_compressed_jsonl_under_another_name_is_read_by_its_content(tmp_path, name, pack):
    """A gzip or zstd stream starts with a magic number no UTF-8 or UTF-16/32 JSON text can start with: read as
    what it is, not as lines of binary that each become a garbage document."""
    docs = read_docs() * 20  # ids d0…d219
    path = tmp_path / name
    path.write_bytes(pack(b"".join(_lines(docs))))
    snap, manifest, rejects = _run([path], tmp_path / "ws")
    assert manifest.stats["docs_in"] == len(docs)
    assert not {"invalid_utf8", "malformed_json", "truncated_file"} & {r["reason"] for r in rejects.to_pylist()}


@pytest.mark.parametrize(
    "data", [b"\n\n", b" \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"], ids=["blank", "space", "bom", "bom-crlf"]
)
def test_a_jsonl_file_without_records_is_one_empty_file_reject(tmp_path, data):
    """A file of blank lines (or only the mark Notepad writes for an empty UTF-8 file) holds no records, as an empty
    file does: the same one `empty_file` reject, and no document."""
    path = tmp_path / "blank.jsonl"
    path.write_bytes(data)
    _, manifest, rejects = _run([path], tmp_path / "ws")
    assert [(r["reason"], r["line"]) for r in rejects.to_pylist()] == [("empty_file", None)]
    assert manifest.stats["docs_in"] == 0 and manifest.stats["file_problems"] == {"empty_file": 1}


# The three below crash the whole run on one record; their fixes lie in `process.py` (see each reason).


def test_a_created_at_that_leaves_the_calendar_in_utc_is_no_date(tmp_path):
    """.NET writes DateTimeOffset.MinValue with the local offset, `0001-01-01T00:00:00+01:00`: in UTC that is before
    the year 1, which Python's datetime cannot hold. The record is kept without a date, not a crash of the run."""
    path = tmp_path / "dotnet.jsonl"
    text = read_docs()[0]["text"]
    path.write_text(json.dumps({"id": "a", "text": text, "created_at": "0001-01-01T00:00:00+01:00"}) + "\n")
    snap, manifest, _ = _run([path], tmp_path / "ws")
    assert read_folder(snap, "data").column("created_at").to_pylist() == [None]


def test_a_source_field_with_a_lone_surrogate_escape_is_written(tmp_path):
    r"""`{"source": "\udcff"}` is valid JSON whose string cannot be written as UTF-8: replaced, as in text and URLs."""
    path = tmp_path / "s.jsonl"
    text = read_docs()[0]["text"]
    path.write_text(json.dumps({"id": "a", "source": "web\udcff", "text": text}) + "\n")
    snap, _, _ = _run([path], tmp_path / "ws")
    assert read_folder(snap, "data").column("source").to_pylist() == ["web\ufffd"]


def test_a_rejected_record_with_a_lone_surrogate_is_written_without_privacy(tmp_path):
    """With the privacy filter off, a duplicate id's text goes to rejects/ as read: a lone surrogate escape in it
    must be replaced there as it is in kept text."""
    text = read_docs()[0]["text"]
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps({"id": "a", "text": text}) + "\n" + json.dumps({"id": "a", "text": "x\ud800 " + text}))
    cfg = load_config(overrides={**NO_DEDUP, "privacy": {"enabled": False}})
    snap = curate([str(path)], tmp_path / "ws", cfg)
    assert [r["reason"] for r in read_folder(snap, "rejects").to_pylist()] == ["duplicate_doc_id"]
