"""Input-reading edge cases found in a defect hunt: each odd input is read as its records, or is one reject naming
the file and line, and documents in = kept + rejected holds."""

from __future__ import annotations

import json

from lmforge.pipeline.curate.inputs import plan_inputs
from tests.support.curate import accounted as _accounted
from tests.support.curate import curate_without_dedup as _run
from tests.support.curate import jsonl_lines as _lines
from tests.support.curate import read_docs, read_folder


def test_text_files_of_the_same_name_in_subfolders_are_two_documents(tmp_path):
    """`2023/index.md` and `2024/index.md` are two files: each is a document with its own id (its path inside the
    input folder), not the second one rejected as a `duplicate_doc_id`."""
    docs = read_docs()
    folder = tmp_path / "site"
    for year, doc in (("2023", docs[0]), ("2024", docs[1])):
        (folder / year).mkdir(parents=True)
        (folder / year / "index.md").write_text(doc["text"], encoding="utf-8")
    (folder / "top.txt").write_text(docs[2]["text"], encoding="utf-8")
    snap, manifest, rejects = _run([folder], tmp_path / "ws")
    assert len(rejects) == 0
    assert _accounted(manifest, "site") == {"docs_in": 3, "kept": 3, "rejected": {}}
    ids = sorted(read_folder(snap, "data").column("doc_id").to_pylist())
    assert ids == ["site/2023/index.md", "site/2024/index.md", "site/top.txt"]


def test_the_current_folder_as_input_is_a_source_named_after_it(tmp_path, monkeypatch):
    """`lmforge curate .` (or `..`): the path has no name of its own, and a source named "" fails the snapshot's
    validation, losing the whole run. The folder the path stands for names the source."""
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(read_docs()[0]["text"], encoding="utf-8")
    monkeypatch.chdir(folder / "sub")
    assert [u.source for u in plan_inputs([".."], [".txt"])] == ["notes"]
    monkeypatch.chdir(folder)
    assert [u.source for u in plan_inputs(["."], [".txt"])] == [u.source for u in plan_inputs(["./"], [".txt"])]
    snap, manifest, _ = _run(["."], tmp_path / "ws")
    assert read_folder(snap, "data").column("doc_id").to_pylist() == ["notes/a.txt"]
    assert _accounted(manifest, "notes")["kept"] == 1


def test_records_separated_by_cr_only_say_so_in_the_reject(tmp_path):
    """Classic Mac OS line ends (CR alone) make the whole file one line: it is one malformed line, and its detail
    says why, instead of only "Extra data at column 27"."""
    path = tmp_path / "mac.jsonl"
    path.write_bytes(b"".join(line.rstrip(b"\n") + b"\r" for line in _lines(read_docs()[:3])))
    _, manifest, rejects = _run([path], tmp_path / "ws")
    [rej] = rejects.to_pylist()
    assert (rej["reason"], rej["line"]) == ("malformed_json", 1)
    assert "separated by CR only" in rej["detail"]
    assert _accounted(manifest, "mac") == {"docs_in": 1, "kept": 0, "rejected": {"malformed_json": 1}}


def test_a_line_that_is_only_a_byte_order_mark_is_blank(tmp_path):
    """`cat a.jsonl empty.jsonl b.jsonl` where empty.jsonl is Notepad's empty UTF-8 file (its mark and a line end)
    puts a line holding only the mark inside the file: a blank line, as on line 1, not a malformed document."""
    lines = _lines(read_docs()[:2])
    path = tmp_path / "joined.jsonl"
    path.write_bytes(lines[0] + b"\xef\xbb\xbf\r\n" + lines[1] + b"\xef\xbb\xbf")
    _, manifest, rejects = _run([path], tmp_path / "ws")
    assert len(rejects) == 0
    assert _accounted(manifest, "joined") == {"docs_in": 2, "kept": 2, "rejected": {}}


def test_a_linked_subfolder_is_read_and_a_link_back_up_is_not_a_loop(tmp_path):
    """A link to a folder (`current -> ../2024-05`) holds documents as a real folder does: they are read, not left
    out without a word. A link back to a folder above (a loop) is not walked again."""
    docs = read_docs()
    (tmp_path / "2024-05").mkdir()
    (tmp_path / "2024-05" / "may.txt").write_text(docs[0]["text"], encoding="utf-8")
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "top.txt").write_text(docs[1]["text"], encoding="utf-8")
    (folder / "current").symlink_to(tmp_path / "2024-05")
    (folder / "again").symlink_to(folder)
    snap, manifest, rejects = _run([folder], tmp_path / "ws")
    assert len(rejects) == 0
    assert sorted(read_folder(snap, "data").column("doc_id").to_pylist()) == [
        "corpus/current/may.txt",
        "corpus/top.txt",
    ]
    assert _accounted(manifest, "corpus") == {"docs_in": 2, "kept": 2, "rejected": {}}


def test_a_folder_named_twice_is_read_once(tmp_path, monkeypatch):
    """`lmforge curate texts ./texts/` is one folder: its documents are read once (as a file named twice is), not
    twice with the second copies rejected as duplicate ids."""
    folder = tmp_path / "texts"
    folder.mkdir()
    for i, doc in enumerate(read_docs()[:2]):
        (folder / f"{i}.txt").write_text(doc["text"], encoding="utf-8")
    (tmp_path / "nothing").mkdir()
    monkeypatch.chdir(tmp_path)
    snap, manifest, rejects = _run(["texts", "./texts/", "nothing", "nothing/"], tmp_path / "ws")
    assert [r["reason"] for r in rejects.to_pylist()] == ["no_matching_files"]
    assert _accounted(manifest, "texts") == {"docs_in": 2, "kept": 2, "rejected": {}}


def test_a_subfolder_that_cannot_be_listed_is_an_unreadable_reject(tmp_path, monkeypatch):
    """`os.walk` skips a folder it cannot list (permission denied) without a word: its documents would be lost
    silently. It is one `unreadable` reject naming the folder and the OS's reason, and the other files are read.
    (Root lists every folder, so the refusal is made here by `os.scandir`.)"""
    import os

    docs = read_docs()
    folder = tmp_path / "notes"
    (folder / "locked").mkdir(parents=True)
    (folder / "a.txt").write_text(docs[0]["text"], encoding="utf-8")
    (folder / "locked" / "b.txt").write_text(docs[1]["text"], encoding="utf-8")
    real_scandir, real_listdir = os.scandir, os.listdir

    def refuse(real):
        def call(p="."):
            if isinstance(p, str | os.PathLike) and os.fspath(p).endswith("locked"):
                raise PermissionError(13, "Permission denied", os.fspath(p))
            return real(p)

        return call

    monkeypatch.setattr(os, "scandir", refuse(real_scandir))
    monkeypatch.setattr(os, "listdir", refuse(real_listdir))
    snap, manifest, rejects = _run([folder], tmp_path / "ws")
    [rej] = rejects.to_pylist()
    assert (rej["reason"], rej["path"]) == ("unreadable", "notes/locked")
    assert rej["detail"] == "cannot read folder: Permission denied"
    assert read_folder(snap, "data").column("doc_id").to_pylist() == ["notes/a.txt"]
    assert manifest.stats["file_problems"] == {"unreadable": 1}


def test_a_nan_id_is_no_id(tmp_path):
    """`json.dumps` of pandas rows writes a missing id as NaN. Such a record has no id (its id comes from the file
    and line), not the id "nan" that every such record would share, each after the first a `duplicate_doc_id`."""
    docs = read_docs()[:3]
    path = tmp_path / "pandas.jsonl"
    path.write_text(
        "".join(json.dumps({"id": float("nan"), "text": d["text"], "url": float("nan")}) + "\n" for d in docs)
    )
    snap, manifest, rejects = _run([path], tmp_path / "ws")
    assert len(rejects) == 0
    assert _accounted(manifest, "pandas") == {"docs_in": 3, "kept": 3, "rejected": {}}
    assert read_folder(snap, "data").column("url").to_pylist() == [None, None, None]


def test_a_null_text_in_a_parquet_column_says_null_not_missing_field(tmp_path):
    """The column exists; a row's null in it is no text, and the reject says so rather than "no 'text' field"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "holes.parquet"
    pq.write_table(
        pa.table({"id": ["a", "b"], "text": pa.array([read_docs()[0]["text"], None], pa.large_string())}), path
    )
    _, manifest, rejects = _run([path], tmp_path / "ws")
    [rej] = rejects.to_pylist()
    assert (rej["reason"], rej["line"], rej["detail"]) == ("missing_text", 2, "'text' is null")
    assert _accounted(manifest, "holes") == {"docs_in": 2, "kept": 1, "rejected": {"missing_text": 1}}


def test_a_text_file_that_is_only_a_byte_order_mark_is_an_empty_file(tmp_path):
    """Notepad saves an empty file as its encoding mark alone (UTF-8's three bytes, UTF-16's two): an empty file, as
    b"" is and as such a JSONL file is, not a document counted in and then rejected as empty after cleaning."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(read_docs()[0]["text"], encoding="utf-8")
    (folder / "utf8.txt").write_bytes(b"\xef\xbb\xbf")
    (folder / "utf8-blank.txt").write_bytes(b"\xef\xbb\xbf\r\n \r\n")
    (folder / "utf16.txt").write_bytes(b"\xff\xfe")
    (folder / "empty.txt").write_bytes(b"")
    _, manifest, rejects = _run([folder], tmp_path / "ws")
    assert sorted((r["reason"], r["path"].rsplit("/", 1)[1]) for r in rejects.to_pylist()) == [
        ("empty_file", name) for name in ("empty.txt", "utf16.txt", "utf8-blank.txt", "utf8.txt")
    ]
    assert _accounted(manifest, "notes") == {"docs_in": 1, "kept": 1, "rejected": {}}
    assert manifest.stats["file_problems"] == {"empty_file": 4}


def test_a_text_folder_with_an_unreadable_member_still_changes_digest_when_a_file_changes(tmp_path):
    """One member that cannot be read made the folder's digest that of its path alone: editing the other files left
    the snapshot id, and so the cached curation, unchanged."""
    from lmforge.pipeline.curate.inputs import InputUnit, unit_digest

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("first version", encoding="utf-8")
    unit = InputUnit("textdir", str(folder), "notes", (str(folder / "a.txt"), str(folder / "gone.txt")))
    before = unit_digest(unit)
    (folder / "a.txt").write_text("second version", encoding="utf-8")
    assert unit_digest(unit) != before
    (folder / "gone.txt").write_text("now readable", encoding="utf-8")
    assert len({before, unit_digest(unit)}) == 2


def test_a_fifo_in_a_text_folder_or_given_alone_is_a_reject_not_a_hang(tmp_path):
    """A named pipe among the files (a log tailer's, a shell's `mkfifo`) was hashed and read like a text file: both
    block until something writes to it, so the run hung forever. It is an `unreadable` reject, never opened."""
    import os

    docs = read_docs()
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(docs[0]["text"], encoding="utf-8")
    os.mkfifo(folder / "pipe.txt")
    os.mkfifo(tmp_path / "alone.jsonl")
    units = plan_inputs([str(folder), str(tmp_path / "alone.jsonl")], [".txt"])
    assert sorted((u.kind, os.path.basename(u.path)) for u in units) == [
        ("special", "alone.jsonl"),
        ("special", "pipe.txt"),
        ("textdir", "notes"),
    ]
    snap, manifest, rejects = _run([folder, tmp_path / "alone.jsonl"], tmp_path / "ws")
    assert sorted((r["reason"], os.path.basename(r["path"])) for r in rejects.to_pylist()) == [
        ("unreadable", "alone.jsonl"),
        ("unreadable", "pipe.txt"),
    ]
    assert "FIFO" in rejects.column("detail")[0].as_py()
    assert read_folder(snap, "data").column("doc_id").to_pylist() == ["notes/a.txt"]


def test_plain_jsonl_named_gz_or_zst_says_it_is_not_compressed(tmp_path):
    """Plain JSONL saved as `.jsonl.gz` was 'compressed stream is damaged or cut short after line 0: Not a gzipped
    file (b'{"')': it is not damaged, it is not gzip at all, and the reject says so and what to do."""
    lines = b"".join(_lines(read_docs()[:2]))
    (tmp_path / "a.jsonl.gz").write_bytes(lines)
    (tmp_path / "b.jsonl.zst").write_bytes(lines)
    _, manifest, rejects = _run([tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.zst"], tmp_path / "ws")
    details = {r["path"].rsplit("/", 1)[1]: (r["reason"], r["detail"]) for r in rejects.to_pylist()}
    assert details == {
        "a.jsonl.gz": (
            "truncated_file",
            "not gzip data, though the name ends in .gz (it starts with b'{\"id'): rename or compress it",
        ),
        "b.jsonl.zst": (
            "truncated_file",
            "not zstd data, though the name ends in .zst (it starts with b'{\"id'): rename or compress it",
        ),
    }
    assert manifest.stats["file_problems"] == {"truncated_file": 2}
