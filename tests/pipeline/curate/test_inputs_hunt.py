"""Odd input files found in a defect hunt: each is read as its records, or is a reject whose detail says what the
file is and what to do, and documents in = kept + rejected holds."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.inputs import plan_inputs
from lmforge.pipeline.curate.readers import RawRecord, RecordReader
from tests.support.curate import accounted as _accounted
from tests.support.curate import curate_without_dedup as _run
from tests.support.curate import jsonl_lines as _lines
from tests.support.curate import read_docs


def _read(path) -> list:
    """What the reader gives for `path`: RawRecords and Rejects, in order."""
    cfg = load_config()
    reader = RecordReader(cfg.curate.fields, cfg.curate.clean)
    return [item for unit in plan_inputs([str(path)], cfg.curate.text_extensions) for item in reader.read(unit)]


def _reasons(items) -> list[tuple[str, str | None]]:
    return [("record", None) if isinstance(i, RawRecord) else (i.reason, i.detail) for i in items]


@pytest.mark.parametrize("compress", [True, False], ids=["tar.gz", "tar"])
def test_a_tar_archive_named_jsonl_is_one_reject_saying_so(tmp_path, compress):
    """`tar czf data.jsonl.gz data.jsonl` makes a gzip of a tar: read as lines, the tar header glued to the first
    record and the padding after the last were two `malformed_json` rejects and the rest records, as if the file
    were fine. It is one file-level reject that says it is a tar archive and how to unpack it."""
    raw = b"".join(_lines(read_docs()[:3]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        info = tarfile.TarInfo("data.jsonl")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    path = tmp_path / ("data.jsonl.gz" if compress else "data.jsonl")
    path.write_bytes(buf.getvalue())
    [(reason, detail)] = _reasons(_read(path))
    assert reason == "unknown_format" and "tar archive" in detail and "tar xf" in detail


def test_a_parquet_file_cut_short_says_so(tmp_path):
    """A copy interrupted mid-file leaves a Parquet file without its footer: "magic bytes not found in footer" does
    not tell the user that the file was cut short and must be copied again."""
    path = tmp_path / "cut.parquet"
    pq.write_table(pa.table({"id": ["a"] * 50, "text": [read_docs()[0]["text"]] * 50}), path)
    path.write_bytes(path.read_bytes()[:-100])
    [(reason, detail)] = _reasons(_read(path))
    assert reason == "unreadable" and detail.startswith("Parquet file cut short")
    (tmp_path / "other.parquet").write_bytes(b"not parquet at all")
    [(reason, detail)] = _reasons(_read(tmp_path / "other.parquet"))
    assert reason == "unreadable" and detail.startswith("not a readable Parquet file")


def test_a_json_array_of_records_on_one_line_says_how_to_split_it(tmp_path):
    """A `.json` renamed `.jsonl` is one line holding an array: the reject says so in JSON's words (not Python's
    `list`) and how to make it one record per line. Scalars are named in JSON's words too."""
    docs = read_docs()[:2]
    path = tmp_path / "array.jsonl"
    path.write_text(json.dumps([{"id": "a", "text": d["text"]} for d in docs]) + '\n"a string"\nnull\n')
    items = _read(path)
    assert [r.reason for r in items] == ["not_an_object"] * 3
    assert "JSON array" in items[0].detail and "jq -c '.[]'" in items[0].detail and "2 objects" in items[0].detail
    assert [r.detail for r in items[1:]] == ["JSON string, expected an object", "JSON null, expected an object"]


def test_a_record_with_the_text_key_twice_is_rejected_not_half_read(tmp_path):
    """`{"text": "first", "text": "second"}` is read by Python (and jq) as its last value: the first text was lost
    without a word. Which text the writer meant is unknown: the line is a reject holding both. A key named like
    the text field elsewhere (nested, or as a value) is no duplicate."""
    text = read_docs()[0]["text"]
    path = tmp_path / "dup.jsonl"
    path.write_bytes(
        b'{"id": "a", "text": "first words", "text": "second words"}\n'
        + json.dumps({"id": "b", "meta": {"text": 1}, "kind": "text", "text": text}).encode()
        + b"\n"
    )
    _, manifest, rejects = _run([path], tmp_path / "ws")
    [rej] = rejects.to_pylist()
    assert (rej["reason"], rej["line"]) == ("malformed_json", 1) and '"text" twice' in rej["detail"]
    assert "first words" in rej["text"] and "second words" in rej["text"]
    assert _accounted(manifest, "dup") == {"docs_in": 2, "kept": 1, "rejected": {"malformed_json": 1}}


def test_a_link_loop_or_dangling_link_without_a_known_extension_is_unreadable(tmp_path):
    """`ln -s loop loop`, or a link to a file since deleted, named `data` (no extension): it was an
    `unknown_format` reject ("unknown extension"), hiding the real trouble, which the OS names."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    [(reason, detail)] = _reasons(_read(tmp_path / "loop"))
    assert (reason, detail) == ("unreadable", "cannot read file: Too many levels of symbolic links")
    [(reason, detail)] = _reasons(_read(tmp_path / "gone"))
    assert (reason, detail) == ("unreadable", "cannot read file: No such file or directory")


def test_zstd_that_starts_with_a_skippable_frame_is_told_by_its_content(tmp_path):
    """`pzstd` writes a skippable frame before each frame, so its output does not start with zstd's frame magic: saved
    as `.jsonl` (a download tool that does not decompress), it was read as lines of binary."""
    skippable = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"\x00" * 4
    lines = _lines(read_docs()[:2])
    (tmp_path / "pzstd.jsonl").write_bytes(b"".join(skippable + zstandard.compress(line) for line in lines))
    assert [r.record_id for r in _read(tmp_path / "pzstd.jsonl")] == ["d0", "d1"]


# The inputs below were read right before the hunt; the tests keep them so.


def test_concatenated_gzip_members_and_zstd_frames_with_skippable_frames_are_all_read(tmp_path):
    """`cat a.gz b.gz`, pigz/zstd's multi-frame output and zstd's skippable frames (seekable-format indexes, and
    `pzstd`'s before each frame): every record of every member or frame is read."""
    lines = _lines(read_docs()[:3])
    skippable = b"\x50\x2a\x4d\x18" + (8).to_bytes(4, "little") + b"12345678"
    (tmp_path / "multi.jsonl.gz").write_bytes(b"".join(gzip.compress(line) for line in lines))
    (tmp_path / "multi.jsonl.zst").write_bytes(
        skippable + b"".join(zstandard.compress(line) + skippable for line in lines)
    )
    for name in ("multi.jsonl.gz", "multi.jsonl.zst"):
        assert [r.record_id for r in _read(tmp_path / name)] == ["d0", "d1", "d2"]


@pytest.mark.parametrize("kind", ["binary", "large_string", "large_binary", "dictionary"])
def test_parquet_text_columns_of_every_string_type_are_read(tmp_path, kind):
    text = read_docs()[0]["text"]
    column = {
        "binary": lambda: pa.array([text.encode()], pa.binary()),
        "large_string": lambda: pa.array([text], pa.large_string()),
        "large_binary": lambda: pa.array([text.encode()], pa.large_binary()),
        "dictionary": lambda: pa.array([text]).dictionary_encode(),
    }[kind]()
    pq.write_table(pa.table({"id": ["a"], "text": column}), tmp_path / "t.parquet")
    [record] = _read(tmp_path / "t.parquet")
    assert isinstance(record, RawRecord) and record.text == text


def test_parquet_text_that_is_a_list_or_struct_is_a_reject_per_row_and_zero_rows_is_an_empty_file(tmp_path):
    pq.write_table(pa.table({"text": pa.array([["a"], ["b"]])}), tmp_path / "lists.parquet")
    pq.write_table(pa.table({"text": pa.array([{"x": "a"}])}), tmp_path / "structs.parquet")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "none.parquet")
    assert _reasons(_read(tmp_path / "lists.parquet")) == [("text_not_string", "'text' is list")] * 2
    assert _reasons(_read(tmp_path / "structs.parquet")) == [("text_not_string", "'text' is dict")]
    assert _reasons(_read(tmp_path / "none.parquet")) == [("empty_file", "file holds no rows")]


def test_files_gone_between_planning_and_reading_are_unreadable_rejects(tmp_path):
    """A file deleted (or moved by a sync) after the inputs were planned: one `unreadable` reject per file with
    the OS's reason, whatever its format, and no crash."""
    cfg = load_config()
    reader = RecordReader(cfg.curate.fields, cfg.curate.clean)
    (tmp_path / "a.jsonl").write_bytes(b"".join(_lines(read_docs()[:1])))
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "b.parquet")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "c.txt").write_text("x")
    units = plan_inputs([str(tmp_path / n) for n in ("a.jsonl", "b.parquet", "folder")], [".txt"])
    for name in ("a.jsonl", "b.parquet", "folder/c.txt"):
        (tmp_path / name).unlink()
    for unit in units:
        [(reason, detail)] = _reasons(reader.read(unit))
        assert reason == "unreadable" and "No such file or directory" in detail, (unit.kind, detail)


def test_a_lone_surrogate_escape_in_an_id_is_kept_apart_from_other_ids(tmp_path):
    r"""`{"id": "\ud800"}` is valid JSON whose id cannot be written as UTF-8: hashed into a doc_id, not a crash."""
    text = read_docs()[0]["text"]
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"id": "\ud800", "text": text}) + "\n" + json.dumps({"id": "\udc00", "text": text}))
    _, manifest, rejects = _run([path], tmp_path / "ws")
    assert "duplicate_doc_id" not in [r["reason"] for r in rejects.to_pylist()]
    assert _accounted(manifest, "s")["docs_in"] == 2
