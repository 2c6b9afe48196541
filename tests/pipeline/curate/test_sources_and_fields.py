"""Where records keep their fields, and per-source settings: field names with dots reach into nested records
(RedPajama's `meta.url`, The Pile's `meta.pile_set_name`, a Parquet struct column; a literal key with a dot in it
still wins), and a `[curate.sources.NAME]` that matches no source is reported."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.snapshot import curate
from lmforge.schemas.manifest import Manifest
from tests.support.curate import read_docs, read_folder

FIELDS = {"id": "meta.doc.id", "text": "content.body", "url": "meta.url", "source": "meta.set"}


def _curate(path, ws):
    cfg = load_config(overrides={"dedup": {"enabled": False}, "curate": {"fields": FIELDS}})
    snap = curate([str(path)], ws, cfg, strict=True)
    return Manifest.read(snap), read_folder(snap, "data").to_pylist(), read_folder(snap, "rejects").to_pylist()


def _records():
    docs = read_docs()[:4]
    return [
        {
            "content": {"body": d["text"]},
            "meta": {"url": f"https://example.org/{i}", "set": "Pile-CC" if i % 2 else "Wiki", "doc": {"id": f"r{i}"}},
        }
        for i, d in enumerate(docs)
    ]


def _check(manifest, kept, rejects):
    assert manifest.stats["docs_in"] == 4 and set(manifest.stats["by_source"]) == {"Pile-CC", "Wiki"}
    rows = kept + rejects
    assert sorted(r["doc_id"] for r in rows) == ["Pile-CC/r1", "Pile-CC/r3", "Wiki/r0", "Wiki/r2"]
    assert {r["doc_id"]: r["url"] for r in kept} == {
        r["doc_id"]: f"https://example.org/{r['doc_id'][-1]}" for r in kept
    }


def test_jsonl_records_with_nested_fields(tmp_path):
    path = tmp_path / "pile.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    _check(*_curate(path, tmp_path / "ws"))


def test_parquet_struct_columns(tmp_path):
    path = tmp_path / "pile.parquet"
    pq.write_table(pa.Table.from_pylist(_records()), path)
    _check(*_curate(path, tmp_path / "ws"))


def test_a_literal_key_with_a_dot_wins(tmp_path):
    path = tmp_path / "flat.jsonl"
    docs = read_docs()[:2]
    path.write_text(
        "".join(json.dumps({"content.body": d["text"], "meta.doc.id": f"x{i}"}) + "\n" for i, d in enumerate(docs))
    )
    manifest, kept, rejects = _curate(path, tmp_path / "ws")
    assert sorted(r["doc_id"] for r in kept + rejects) == ["flat/x0", "flat/x1"]


def test_an_override_for_a_source_no_document_has_is_reported(tmp_path, caplog):
    """A typo in `[curate.sources.NAME]` silently applied the defaults; the run now says which names matched nothing."""
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": d["text"]}) + "\n" for i, d in enumerate(read_docs()[:2])))
    overrides = {
        "dedup": {"enabled": False},
        "curate": {"sources": {"nwes": {"filters": {"length": {"min_chars": 1}}}}},
    }
    with caplog.at_level("WARNING", logger="lmforge.pipeline.curate.snapshot"):
        curate([str(path)], tmp_path / "ws", load_config(overrides=overrides))
    assert "[curate.sources.nwes] matched no document's source (sources: news)" in caplog.text


def test_personal_data_in_a_source_name_never_reaches_the_snapshot(tmp_path):
    """A record's `source` field is data like its text: `"source": "bob.smith@example.com"` (a mailbox export) is
    redacted wherever the source goes (column, doc_id, stats, rejects, duplicates), and stays apart from other
    sources. A file named after a person is a source name too."""
    docs = read_docs()[:3]
    owners = ["bob.smith@example.com", "carol.white@example.net", "Wiki"]
    records = [{"id": f"r{i}", "text": d["text"], "source": owners[i]} for i, d in enumerate(docs)]
    records.append({"id": "bad", "text": 42, "source": owners[0]})  # a reject of that source
    records.append({"id": "again", "text": docs[0]["text"], "source": owners[1]})  # an exact duplicate of r0
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "mail.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "dave.jones@example.org.jsonl").write_text(json.dumps({"id": "d", "text": docs[1]["text"] + " Yes."}))
    snap = curate([str(p) for p in sorted(folder.iterdir())], tmp_path / "ws", load_config())
    kept, rejects = read_folder(snap, "data").to_pylist(), read_folder(snap, "rejects").to_pylist()
    duplicates = pq.read_table(snap / "duplicates.parquet").to_pylist()
    by_source = Manifest.read(snap).stats["by_source"]
    outputs = json.dumps([kept, rejects, duplicates, by_source], default=str)
    for email in ("bob.smith", "carol.white", "dave.jones"):
        assert email not in outputs
    sources = {r["source"] for r in kept + rejects}
    assert len(sources) == 4 and "Wiki" in sources and all(s.startswith(("<EMAIL>", "Wiki")) for s in sources)
    assert {r["reason"] for r in rejects} >= {"text_not_string", "exact_duplicate"}
    assert all(r["doc_id"].split("/")[0] == r["source"] for r in kept + rejects)
