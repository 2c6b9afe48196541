"""Inputs named more than once through a folder, the spelling of ids that are not strings, text files in UTF-16
without a byte-order mark, and the source name of a single text file."""

from __future__ import annotations

import codecs
import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.curate.inputs import plan_inputs
from tests.support.curate import accounted as _accounted
from tests.support.curate import curate_without_dedup as _run
from tests.support.curate import read_docs, read_folder


def _ids(snap, rejects) -> list[str]:
    kept = read_folder(snap, "data").column("doc_id").to_pylist()
    return sorted(kept + [r["doc_id"] for r in rejects.to_pylist() if r["doc_id"] is not None])


def _texts(snap, rejects) -> list[str]:
    """The texts read: kept, or rejected by a step after reading (a quality filter); a read reject fails."""
    assert not [r for r in rejects.to_pylist() if r["step"] == "read"]
    data = read_folder(snap, "data")
    kept = data.column("text").to_pylist() if data.num_columns else []
    return kept + [r["text"] for r in rejects.to_pylist()]


@pytest.mark.parametrize("order", ["parent-first", "child-first"])
def test_a_folder_and_its_own_subfolder_read_each_file_once(tmp_path, monkeypatch, caplog, order):
    """`lmforge curate docs docs/api` names docs/api's files twice: each is read once, under the more specific input
    (docs/api, whichever order they come in), and the overlap is said in a warning."""
    docs = read_docs()
    (tmp_path / "docs" / "api").mkdir(parents=True)
    (tmp_path / "docs" / "guide.txt").write_text(docs[0]["text"], encoding="utf-8")
    (tmp_path / "docs" / "api" / "ref.txt").write_text(docs[1]["text"], encoding="utf-8")
    (tmp_path / "docs" / "api" / "more.jsonl").write_text(json.dumps({"id": "m", "text": docs[2]["text"]}) + "\n")
    monkeypatch.chdir(tmp_path)
    args = ["docs", "docs/api"] if order == "parent-first" else ["docs/api", "docs"]
    with caplog.at_level(logging.WARNING):
        snap, manifest, rejects = _run(args, tmp_path / "ws")
    assert len(rejects) == 0
    assert _ids(snap, rejects) == ["api/m", "api/ref.txt", "docs/guide.txt"]
    assert _accounted(manifest, "docs") == {"docs_in": 1, "kept": 1, "rejected": {}}
    assert _accounted(manifest, "api") == {"docs_in": 2, "kept": 2, "rejected": {}}
    assert any(
        "docs/api" in r.getMessage() and "named as an input of its own" in r.getMessage() for r in caplog.records
    )


def test_a_file_inside_a_named_folder_belongs_to_its_own_naming(tmp_path, monkeypatch):
    """`lmforge curate notes notes/a.txt`: the text file is one document, of the input that names it alone (as a
    record file inside a named folder is), not a second copy under the folder's source."""
    docs = read_docs()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text(docs[0]["text"], encoding="utf-8")
    (tmp_path / "notes" / "b.txt").write_text(docs[1]["text"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    snap, manifest, rejects = _run(["notes", "notes/a.txt"], tmp_path / "ws")
    assert _ids(snap, rejects) == ["a/a.txt", "notes/b.txt"]
    assert manifest.stats["docs_in"] == 2


def test_a_folder_whose_only_content_is_named_alone_is_not_an_empty_folder(tmp_path, monkeypatch):
    """`lmforge curate corpus corpus/2024`, corpus holding only 2024/: corpus is no `no_matching_files` reject."""
    (tmp_path / "corpus" / "2024").mkdir(parents=True)
    (tmp_path / "corpus" / "2024" / "a.txt").write_text(read_docs()[0]["text"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    units = plan_inputs(["corpus", "corpus/2024"], [".txt"])
    assert [(u.kind, u.source, u.files) for u in units] == [("textdir", "2024", ("corpus/2024/a.txt",))]


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (7.0, "7"),
        (7.5, "7.5"),
        ({"n": 1}, '{"n":1}'),
        ([1, "a"], '[1,"a"]'),
    ],
)
def test_an_id_that_is_no_string_is_spelled_as_json_writes_it(tmp_path, value, spelled):
    """`{"id": true}` is the id `true` (Python's `str` made it `True`), and 7.0 the same number as 7 (as JSON means
    and JavaScript writes it), so a JSONL file and its Parquet copy with a float column give the same doc_ids."""
    from lmforge.pipeline.curate.process import doc_id_for

    path = tmp_path / "typed.jsonl"
    path.write_text(json.dumps({"id": value, "text": read_docs()[0]["text"]}) + "\n")
    snap, _, rejects = _run([path], tmp_path / "ws")
    assert _ids(snap, rejects) == [doc_id_for("typed", spelled, str(path), 1)]  # `typed/true`, or a hash of '{"n":1}'


def test_parquet_id_columns_that_are_no_strings_are_spelled_as_in_jsonl(tmp_path):
    """pandas writes an integer id column with a missing value as float64 (1.0, 2.0, NaN): the ids are 1 and 2, as
    in the JSONL it was exported from; a boolean column is `true`/`false`."""
    texts = [d["text"] for d in read_docs()[:3]]
    for name, ids in (("floats", pa.array([1.0, 2.0, None])), ("bools", pa.array([True, False, None]))):
        pq.write_table(pa.table({"id": ids, "text": texts}), tmp_path / f"{name}.parquet")
    snap, _, rejects = _run([tmp_path / "floats.parquet", tmp_path / "bools.parquet"], tmp_path / "ws")
    ids = [i for i in _ids(snap, rejects) if "/h" not in i]  # the row without an id has a hashed one
    assert ids == ["bools/false", "bools/true", "floats/1", "floats/2"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize(
    "start",
    ["Café crème, naïve résumé. ", "Привет, как дела у тебя сегодня? Всё хорошо, спасибо. " * 4],
    ids=["latin", "cyrillic"],
)
def test_a_wide_text_file_without_a_byte_order_mark_is_read_as_what_it_is(tmp_path, encoding, start):
    """A text file in UTF-16 without a mark (some exporters, `iconv -t UTF-16LE`): read as UTF-8 its letters were
    NUL-separated (Cyrillic's 0x04 bytes too) and any é made it invalid UTF-8. Where its NUL bytes fall gives it
    away."""
    text = start + read_docs()[0]["text"]
    (tmp_path / "wide").mkdir()
    (tmp_path / "wide" / "a.txt").write_bytes(text.encode(encoding))
    snap, manifest, rejects = _run([tmp_path / "wide"], tmp_path / "ws")
    [text] = _texts(snap, rejects)  # Russian repeated may fail a quality filter: read, all the same
    assert text.startswith(start.strip()) and "\x00" not in text


def test_utf8_text_with_nul_bytes_at_a_steady_spacing_is_not_taken_for_utf16(tmp_path):
    """A NUL byte every 12 bytes falls at odd positions only, as in UTF-16, but the bytes beside are letters of
    every kind, not UTF-16's high bytes: the file is UTF-8 text, not a document of CJK-looking garbage."""
    (tmp_path / "nul").mkdir()
    (tmp_path / "nul" / "a.txt").write_bytes(b"hello\x00world " * 40)
    snap, _, rejects = _run([tmp_path / "nul"], tmp_path / "ws")
    [text] = _texts(snap, rejects)
    assert text.startswith("helloworld hello")


def test_text_in_the_nul_pattern_of_utf16_that_is_not_utf16_says_what_it_looks_like(tmp_path):
    """UTF-16 without a mark, damaged (a lone surrogate, a cut-off last byte): one `invalid_utf8` reject whose
    detail says it looks like UTF-16 without a byte order mark, not "invalid UTF-8 at byte 3" of text it never was."""
    text = read_docs()[0]["text"]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "surrogate.txt").write_bytes(text.encode("utf-16-le") + b"\x00\xd8A\x00")
    (tmp_path / "bad" / "cut.txt").write_bytes(("é" + text).encode("utf-16-le")[:-1])
    _, manifest, rejects = _run([tmp_path / "bad"], tmp_path / "ws")
    for rej in rejects.to_pylist():
        assert rej["reason"] == "invalid_utf8"
        assert rej["detail"].startswith("looks like UTF-16-LE without a byte order mark"), rej["detail"]
    assert _accounted(manifest, "bad") == {"docs_in": 2, "kept": 0, "rejected": {"invalid_utf8": 2}}


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
    ],
)
def test_a_text_file_with_any_byte_order_mark_is_its_text_without_the_mark(tmp_path, bom, encoding):
    text = "Ünïcödé first line.\r\n" + read_docs()[0]["text"]
    (tmp_path / "marked").mkdir()
    (tmp_path / "marked" / "a.txt").write_bytes(bom + text.encode(encoding))
    snap, _, rejects = _run([tmp_path / "marked"], tmp_path / "ws")
    assert len(rejects) == 0
    [kept] = read_folder(snap, "data").column("text").to_pylist()
    assert kept.startswith("Ünïcödé first line.\n") and "\ufeff" not in kept


@pytest.mark.parametrize("name", ["README.md", "notes.txt", "page.html"])
def test_a_single_text_file_is_a_source_named_without_its_extension(tmp_path, monkeypatch, name):
    """A folder `docs` is source `docs`, `docs.jsonl` too; `README.md` given alone was source `README.md`."""
    (tmp_path / name).write_text(read_docs()[0]["text"], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    [unit] = plan_inputs([name], [".txt", ".md", ".html"])
    assert unit.source == name.partition(".")[0]
    assert [u.source for u in plan_inputs([f"mine={name}"], [".md", ".txt", ".html"])] == ["mine"]


def test_a_spark_jobs_markers_and_dataset_summaries_are_not_inputs(tmp_path):
    """A partition written by Spark holds `_SUCCESS` (and Databricks' `_committed_…`/`_started_…`, a dataset's
    `_metadata`) beside its data files. They were units of unknown format, rejected on every run, and a marker
    rewritten by a re-run job changed the snapshot id; a folder holding only markers has no matching files."""
    day = tmp_path / "date=2026-01-01"
    day.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["one doc", "two docs"]}), day / "part-00000.parquet")
    for name in ("_SUCCESS", "_committed_123", "_started_123", "_metadata", "_common_metadata"):
        (day / name).write_bytes(b"")
    units = plan_inputs([str(day)], [".txt"])
    assert [(u.kind, u.path.rsplit("/", 1)[-1]) for u in units] == [("parquet", "part-00000.parquet")]
    (day / "_success.txt").write_text("a text file that only looks alike\n")
    assert sorted(u.kind for u in plan_inputs([str(day)], [".txt"])) == ["parquet", "textdir"]
    empty = tmp_path / "date=2026-01-02"
    empty.mkdir()
    (empty / "_SUCCESS").write_bytes(b"")
    assert [u.kind for u in plan_inputs([str(empty)], [".txt"])] == ["empty_dir"]
