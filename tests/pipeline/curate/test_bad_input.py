"""Every malformed input the foundation issue names: a clear reason naming file and line, the record in rejects,
the run goes on (or fails in strict mode), and documents in = kept + rejected per source."""

from __future__ import annotations

import codecs
import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.snapshot import curate
from lmforge.pipeline.errors import InputError
from lmforge.schemas.manifest import Manifest
from tests.support.curate import read_docs, read_folder, write_jsonl

NO_DEDUP = {"dedup": {"enabled": False}}


@pytest.fixture()
def good(tmp_path):
    return write_jsonl(tmp_path / "in" / "good.jsonl", read_docs()[:8])


def _run(inputs, ws, strict=False, overrides=None):
    cfg = load_config(overrides=overrides or NO_DEDUP)
    snap = curate([str(p) for p in inputs], ws, cfg, strict=strict)
    return snap, Manifest.read(snap), read_folder(snap, "rejects")


def _reasons(rejects: pa.Table) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in rejects.to_pylist():
        out.setdefault(r["reason"], []).append(r)
    return out


def test_record_level_bad_input_is_rejected_with_file_and_line(tmp_path, good):
    bad = tmp_path / "in" / "bad.jsonl"
    docs = read_docs()
    lines = [
        json.dumps({"id": "ok-1", "text": docs[0]["text"]}).encode(),
        b'{"id": "utf8", "text": "caf\xe9 au lait and more words"}',
        b'{"id": "broken", "text": "no closing quote}',
        json.dumps({"id": "no-text", "body": "x"}).encode(),
        json.dumps({"id": "num", "text": 12345}).encode(),
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps({"id": "ok-2", "text": docs[4]["text"]}).encode(),
    ]
    bad.write_bytes(b"\n".join(lines) + b"\n")
    snap, manifest, rejects = _run([good, bad], tmp_path / "ws")
    by = _reasons(rejects)
    assert by["invalid_utf8"][0]["line"] == 2 and by["invalid_utf8"][0]["path"].endswith("bad.jsonl")
    assert by["malformed_json"][0]["line"] == 3
    assert by["missing_text"][0]["line"] == 4
    assert by["text_not_string"][0]["line"] == 5
    assert by["empty_text"][0]["line"] == 6
    assert by["not_an_object"][0]["line"] == 7
    src = manifest.stats["by_source"]["bad"]
    assert src["docs_in"] == 8 and src["kept"] == 2
    assert src["docs_in"] == src["kept"] + sum(src["rejected"].values())
    # a rejected record with an id of its own is named by it, as it would be if kept (it had a hash of its line)
    assert [by[reason][0]["doc_id"] for reason in ("missing_text", "text_not_string", "empty_text")] == [
        "bad/no-text",
        "bad/num",
        "bad/empty",
    ]


def test_a_rejected_record_whose_id_holds_personal_data_is_named_by_a_hash(tmp_path):
    path = write_jsonl(tmp_path / "in" / "ids.jsonl", [{"id": "jane.doe@example.com", "text": 7}])
    _, _, rejects = _run([path], tmp_path / "ws")
    [row] = rejects.to_pylist()
    assert row["reason"] == "text_not_string" and row["doc_id"].startswith("ids/h") and "jane" not in row["doc_id"]


def test_json_nested_too_deep_is_one_malformed_line_and_the_file_goes_on(tmp_path):
    """200,000 nested brackets exhaust Python's JSON parser (RecursionError): that line is rejected, not the run."""
    docs = read_docs()
    deep = '{"id": "deep", "text": "x", "meta": ' + "[" * 200_000 + "]" * 200_000 + "}"
    lines = [json.dumps({"id": "a", "text": docs[0]["text"]}), deep, json.dumps({"id": "c", "text": docs[1]["text"]})]
    path = tmp_path / "in" / "deep.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    _, manifest, rejects = _run([path], tmp_path / "ws")
    by = _reasons(rejects)
    assert [r["line"] for r in by["malformed_json"]] == [2] and "nested" in by["malformed_json"][0]["detail"]
    src = manifest.stats["by_source"]["deep"]
    assert src["docs_in"] == 3 and src["docs_in"] == src["kept"] + sum(src["rejected"].values())


def test_a_damaged_parquet_row_group_is_one_reject_and_the_next_ones_are_read(tmp_path):
    docs = read_docs()[:9]
    path = tmp_path / "in" / "damaged.parquet"
    path.parent.mkdir()
    table = pa.table({"id": [f"d{i}" for i in range(9)], "text": [d["text"] for d in docs]})
    pq.write_table(table, path, row_group_size=3, compression="zstd")
    meta = pq.ParquetFile(path).metadata.row_group(0).column(1)
    start = meta.dictionary_page_offset or meta.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + 8 : start + 40] = bytes(b ^ 0xFF for b in data[start + 8 : start + 40])  # row group 0's text pages
    path.write_bytes(bytes(data))
    _, manifest, rejects = _run([path], tmp_path / "ws")
    lost = _reasons(rejects)["unreadable"]
    assert [(r["line"], "row group 0 (rows 1-3)" in r["detail"]) for r in lost] == [(1, True)]
    src = manifest.stats["by_source"]["damaged"]
    assert src["docs_in"] == 6 and src["docs_in"] == src["kept"] + sum(src["rejected"].values())


def test_parquet_is_read_in_batches_with_rows_numbered_across_row_groups(tmp_path, monkeypatch):
    """Rows are made into records a few at a time (big row groups stay bounded in memory); their numbers still run
    through the file, which is what a reject names."""
    from lmforge.pipeline.curate import readers

    monkeypatch.setattr(readers, "PARQUET_BATCH_ROWS", 2)
    docs = read_docs()[:7]
    texts = [d["text"] for d in docs]
    texts[5] = None  # row 6, in the second row group, the second batch of it: missing text
    path = tmp_path / "in" / "batches.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(7)], "text": texts}), path, row_group_size=4)
    snap, manifest, rejects = _run([path], tmp_path / "ws")
    assert [r["line"] for r in _reasons(rejects)["missing_text"]] == [6]
    assert manifest.stats["by_source"]["batches"]["docs_in"] == 7
    kept = set(read_folder(snap, "data").column("doc_id").to_pylist())
    assert kept <= {f"batches/d{i}" for i in range(7)} - {"batches/d5"} and len(kept) == manifest.stats["kept"]


def test_strict_mode_fails_naming_file_and_line(tmp_path, good):
    bad = tmp_path / "in" / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "text": "fine text here"}\n{oops\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2.*malformed_json") as failed:
        _run([good, bad], tmp_path / "ws", strict=True)
    assert str(failed.value).startswith(f"{bad}:2: bad input (strict mode): malformed_json")  # the file named once


def test_strict_mode_stops_at_the_first_bad_file(tmp_path):
    """A strict run over a large corpus must not curate every other file before it reports the bad one."""
    docs = read_docs()
    bad = tmp_path / "in" / "a_bad.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"{oops\n")
    later = [write_jsonl(tmp_path / "in" / f"b_good{i}.jsonl", docs[i * 4 : i * 4 + 4]) for i in range(3)]
    with pytest.raises(InputError, match=r"a_bad\.jsonl:1.*malformed_json"):
        _run([bad, *later], tmp_path / "ws", strict=True)
    curated = list((tmp_path / "ws" / "snapshots" / ".work").glob("*/results/*.json"))
    assert len(curated) == 1  # the bad file's; none of the three after it


def test_truncated_gz_and_zst_keep_the_intact_prefix(tmp_path):
    docs = read_docs()[:8]
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode() * 50
    gz = tmp_path / "in" / "cut.jsonl.gz"
    zst = tmp_path / "in" / "cut.jsonl.zst"
    gz.parent.mkdir(parents=True)
    gz.write_bytes(gzip.compress(payload)[: len(gzip.compress(payload)) // 2])
    z = zstandard.ZstdCompressor().compress(payload)
    zst.write_bytes(z[: len(z) // 2])
    snap, manifest, rejects = _run(
        [gz, zst], tmp_path / "ws", overrides={"dedup": {"enabled": False}, "curate": {"filters": {"enabled": False}}}
    )
    by = _reasons(rejects)
    paths = sorted(os.path.basename(r["path"]) for r in by["truncated_file"])
    assert paths == ["cut.jsonl.gz", "cut.jsonl.zst"]
    assert manifest.stats["file_problems"]["truncated_file"] == 2
    for src in ("cut", "cut.jsonl"):
        if src in manifest.stats["by_source"]:
            e = manifest.stats["by_source"][src]
            assert e["docs_in"] == e["kept"] + sum(e["rejected"].values())
    assert manifest.stats["docs_in"] > 0  # the intact prefix was read


def test_a_stream_cut_before_its_first_line_is_one_truncated_file(tmp_path):
    payload = b"".join(json.dumps(d).encode() + b"\n" for d in read_docs()[:8])
    gz = tmp_path / "in" / "cut.jsonl.gz"
    gz.parent.mkdir(parents=True)
    gz.write_bytes(gzip.compress(payload)[:20])  # the header and a few bytes: no whole line
    _, manifest, rejects = _run([gz], tmp_path / "ws")
    assert [(r["reason"], r["line"]) for r in rejects.to_pylist()] == [("truncated_file", 1)]
    assert manifest.stats["file_problems"] == {"truncated_file": 1}


def test_file_level_problems_become_rejects(tmp_path, good):
    empty = tmp_path / "in" / "empty.jsonl"
    empty.write_bytes(b"")
    unknown = tmp_path / "in" / "notes.docx"
    unknown.write_bytes(b"PK\x03\x04 binary")
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    no_text = tmp_path / "in" / "table.parquet"
    pq.write_table(pa.table({"id": ["a"], "body": ["some words"]}), no_text)
    unreadable = tmp_path / "in" / "locked.jsonl"
    if os.geteuid() == 0:  # root reads anything: a dangling link is unreadable for everyone
        unreadable.symlink_to(tmp_path / "missing-target.jsonl")
    else:
        unreadable.write_text('{"text": "x"}\n')
        unreadable.chmod(0)
    snap, manifest, rejects = _run([good, empty, unknown, empty_dir, no_text, unreadable], tmp_path / "ws")
    by = _reasons(rejects)
    assert {"empty_file", "unknown_format", "no_matching_files", "missing_text_column", "unreadable"} <= by.keys()
    assert "column 'text'" in by["missing_text_column"][0]["detail"]
    assert manifest.stats["kept"] == 8


def test_an_unreadable_file_in_a_folder_does_not_lose_the_files_after_it(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    docs = read_docs()
    (folder / "a.txt").write_text(docs[0]["text"], encoding="utf-8")
    locked = folder / "m.txt"
    if os.geteuid() == 0:  # root reads anything: a dangling link is unreadable for everyone
        locked.symlink_to(tmp_path / "missing-target.txt")
    else:
        locked.write_text("x")
        locked.chmod(0)
    (folder / "z.txt").write_text(docs[1]["text"], encoding="utf-8")
    snap, manifest, rejects = _run([folder], tmp_path / "ws")
    assert [r["path"] for r in _reasons(rejects)["unreadable"]] == ["notes/m.txt"]  # as ids name it
    assert manifest.stats["docs_in"] == 2
    assert sorted(read_folder(snap, "data").column("doc_id").to_pylist()) == ["notes/a.txt", "notes/z.txt"]


def test_giant_document_is_rejected_without_stopping_the_run(tmp_path, good):
    giant = tmp_path / "in" / "giant.jsonl"
    giant.write_text(json.dumps({"id": "huge", "text": "word " * 10_500_000}) + "\n")  # ~52 MB
    snap, manifest, rejects = _run([good, giant], tmp_path / "ws")
    by = _reasons(rejects)
    assert by["too_large"][0]["path"].endswith("giant.jsonl") and by["too_large"][0]["line"] == 1
    assert by["too_large"][0]["detail"].startswith("line of 52500027 bytes > clean.max_bytes; its first 10000001")
    assert len(by["too_large"][0]["text"]) == 10_000_001  # the rest was never held
    assert manifest.stats["kept"] == 8


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".utf16.jsonl"])
def test_a_line_past_max_bytes_is_read_only_that_far(tmp_path, suffix):
    """A binary file named .jsonl can hold a "line" of gigabytes: only its first max_bytes + 1 bytes are held (and
    kept in the reject), the rest is skipped, and the lines after it are read as usual."""
    from lmforge.pipeline.curate.lines import CutLine, open_lines

    limit = 1000
    lines = [b'{"id": "a", "text": "short"}\n', b"x" * 5000 + b"\n", b'{"id": "b", "text": "after"}\n']
    raw = b"".join(lines)
    if suffix == ".utf16.jsonl":
        raw = raw.decode().encode("utf-16")
    path = tmp_path / f"long{suffix}"
    path.write_bytes(_pack(raw, suffix.replace(".utf16", "")))
    got = list(open_lines(str(path), limit))
    assert [bytes(g) for g in (got[0], got[2])] == [lines[0], lines[2]]
    assert isinstance(got[1], CutLine) and got[1].size == 5001 and bytes(got[1]) == b"x" * (limit + 1)


def test_missing_input_path_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        _run([tmp_path / "nope.jsonl"], tmp_path / "ws")


@pytest.mark.parametrize(
    ("arg", "reason"),
    [
        ("news=", "needs a path after '='"),  # Path("") would be the current folder
        ("=in/good.jsonl", "needs a source name before '='"),
        (".=in/good.jsonl", "needs a source name before '='"),
        (" =in/good.jsonl", "needs a source name before '='"),
    ],
)
def test_a_named_input_without_its_name_or_path_is_refused(tmp_path, good, monkeypatch, arg, reason):
    from lmforge.pipeline.curate.inputs import plan_inputs

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=reason):
        plan_inputs([arg], [".txt"])
    assert [u.source for u in plan_inputs(["news=in/good.jsonl"], [".txt"])] == ["news"]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_a_byte_order_mark_before_the_first_record_is_not_an_error(tmp_path, suffix):
    """Windows tools write UTF-8 with a BOM; it is an encoding mark, not content, so record 1 stays a document."""
    docs = read_docs()[:3]
    raw = b"\xef\xbb\xbf" + b"".join(
        json.dumps({"id": f"d{i}", "text": d["text"]}).encode() + b"\n" for i, d in enumerate(docs)
    )
    path = tmp_path / f"bom{suffix}"
    packed = {".jsonl": raw, ".jsonl.gz": gzip.compress(raw), ".jsonl.zst": zstandard.compress(raw)}[suffix]
    path.write_bytes(packed)
    _, manifest, rejects = _run([path], tmp_path / "ws", strict=True)  # strict: any input error would raise
    assert "malformed_json" not in _reasons(rejects)
    assert manifest.stats["by_source"]["bom"]["docs_in"] == 3


def _pack(raw: bytes, suffix: str) -> bytes:
    return {".jsonl": raw, ".jsonl.gz": gzip.compress(raw), ".jsonl.zst": zstandard.compress(raw)}[suffix]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
@pytest.mark.parametrize(
    "encoding",
    ["utf-16", "utf-16-be-bom", "utf-32", "utf-32-be-bom", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"],
)
def test_utf16_and_utf32_jsonl_are_read_as_the_same_documents(tmp_path, suffix, encoding):
    """PowerShell's `>` writes UTF-16 with a byte-order mark; JSON may also come in UTF-16/32 without one (RFC 4627
    tells them apart by where the zero bytes of the first, ASCII, characters fall). Both read as the UTF-8 file."""
    docs = read_docs()[:3] + [d for d in read_docs() if not d["text"].isascii()][:2]
    lines = "".join(
        json.dumps({"id": f"d{i}", "text": d["text"]}, ensure_ascii=False) + "\n" for i, d in enumerate(docs)
    )
    # "utf-16"/"utf-32" write a (little-endian) BOM, "utf-16-le"/"-be" do not
    bom = {"utf-16-be-bom": codecs.BOM_UTF16_BE, "utf-32-be-bom": codecs.BOM_UTF32_BE}.get(encoding)
    raw = bom + lines.encode(encoding.removesuffix("-bom")) if bom else lines.encode(encoding)
    wide = tmp_path / "wide" / f"docs{suffix}"
    wide.parent.mkdir()
    wide.write_bytes(_pack(raw, suffix))
    plain = write_jsonl(
        tmp_path / "utf8" / "docs.jsonl", [{"id": f"d{i}", "text": d["text"]} for i, d in enumerate(docs)]
    )
    snap, manifest, _ = _run([wide], tmp_path / "ws", strict=True)  # strict: any input error would raise
    expected, _, _ = _run([plain], tmp_path / "ws8", strict=True)
    assert manifest.stats["by_source"]["docs"]["docs_in"] == len(docs)
    assert (
        read_folder(snap, "data").column("text").to_pylist() == read_folder(expected, "data").column("text").to_pylist()
    )


def test_utf16_jsonl_cut_inside_a_character_keeps_its_intact_lines(tmp_path):
    docs = read_docs()[:4]
    raw = "".join(json.dumps({"id": f"d{i}", "text": d["text"]}) + "\n" for i, d in enumerate(docs)).encode("utf-16")
    path = tmp_path / "cut.jsonl"
    path.write_bytes(raw[:-3])  # the last line loses its newline and half of a character
    _, manifest, rejects = _run([path], tmp_path / "ws")
    by = _reasons(rejects)
    assert [r["line"] for r in by["truncated_file"]] == [4] and "middle of a character" in by["truncated_file"][0][
        "detail"
    ]
    assert (
        manifest.stats["by_source"]["cut"]["kept"] + sum(manifest.stats["by_source"]["cut"]["rejected"].values()) == 3
    )


def test_a_utf16_text_file_is_one_document_with_its_text(tmp_path):
    text = read_docs()[0]["text"]
    for name, data in (("wide", text.encode("utf-16")), ("plain", text.encode("utf-8"))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.txt").write_bytes(data)
    wide, manifest, rejects = _run([tmp_path / "wide"], tmp_path / "ws", strict=True)
    plain, _, _ = _run([tmp_path / "plain"], tmp_path / "ws8", strict=True)
    assert manifest.stats["docs_in"] == manifest.stats["kept"] == 1 and len(rejects) == 0
    assert read_folder(wide, "data").column("text").to_pylist() == read_folder(plain, "data").column("text").to_pylist()


def test_a_parquet_text_column_stored_as_binary_is_decoded_as_utf8(tmp_path):
    """Older Spark and Hive write strings as BINARY without the UTF8 annotation: the bytes are text, decoded under
    `clean.invalid_utf8` like a JSONL line, so one bad row is one `invalid_utf8` reject naming its row."""
    docs = read_docs()[:3]
    texts = [d["text"].encode() for d in docs] + [b"caf\xe9 au lait"]
    table = pa.table(
        {
            "id": pa.array([f"d{i}".encode() for i in range(4)], pa.binary()),
            "text": pa.array(texts, pa.binary()),
            "url": pa.array([b"https://example.org/a", None, None, None], pa.large_binary()),
        }
    )
    path = tmp_path / "old.parquet"
    pq.write_table(table, path)
    snap, manifest, rejects = _run([path], tmp_path / "ws")
    by = _reasons(rejects)
    assert "text_not_string" not in by
    assert [r["line"] for r in by["invalid_utf8"]] == [4]
    src = manifest.stats["by_source"]["old"]
    assert src["docs_in"] == 4 and src["docs_in"] == src["kept"] + sum(src["rejected"].values())
    ids = read_folder(snap, "data").column("doc_id").to_pylist()
    ids += [r["doc_id"] for r in rejects.to_pylist() if r["reason"] != "invalid_utf8"]
    assert sorted(ids) == ["old/d0", "old/d1", "old/d2"]  # the ids are decoded too, not "b'd0'"
    urls = dict(zip(*(read_folder(snap, "data").column(c).to_pylist() for c in ("doc_id", "url")), strict=True))
    assert urls["old/d0"] == "https://example.org/a"


@pytest.mark.parametrize("name", ["a.ndjson", "a.ndjson.gz", "a.ndjson.zst", "a.JSONL.GZ"])
def test_ndjson_names_and_compression_are_read_as_jsonl(tmp_path, name):
    raw = b"".join(
        json.dumps({"id": f"d{i}", "text": d["text"]}).encode() + b"\n" for i, d in enumerate(read_docs()[:2])
    )
    lower = name.lower()
    packed = gzip.compress(raw) if lower.endswith(".gz") else zstandard.compress(raw) if lower.endswith(".zst") else raw
    (tmp_path / name).write_bytes(packed)
    _, manifest, _ = _run([tmp_path / name], tmp_path / "ws", strict=True)
    assert manifest.stats["by_source"]["a"]["docs_in"] == 2


def test_a_file_name_that_is_not_utf8_is_one_reject_and_the_folder_goes_on(tmp_path, good):
    """Old archives hold Latin-1 file names; Python sees them with surrogates, which no manifest, Prefect parameter
    or Parquet column can hold. Such a file is an `unreadable` reject showing its name's bytes escaped."""
    folder = tmp_path / "texts"
    folder.mkdir()
    prose = read_docs()[0]["text"]
    (folder / "fine.txt").write_text(prose)
    os.makedirs(os.fsencode(folder) + b"/sub-caf\xe9")
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as f:
        f.write(prose.encode())
    with open(os.fsencode(folder) + b"/sub-caf\xe9/inner.txt", "wb") as f:
        f.write(prose.encode())
    with open(os.fsencode(tmp_path) + b"/top\xe9.jsonl", "wb") as f:
        f.write(json.dumps({"id": "t", "text": prose}).encode() + b"\n")
    top = os.fsdecode(os.fsencode(tmp_path) + b"/top\xe9.jsonl")
    _, manifest, rejects = _run([good, folder, top], tmp_path / "ws")
    unreadable = _reasons(rejects)["unreadable"]
    names = sorted(r["path"] for r in unreadable)
    assert names == [f"{tmp_path.name}/top\\xe9.jsonl", "texts/caf\\xe9.txt", "texts/sub-caf\\xe9/inner.txt"]
    assert all("not valid UTF-8" in r["detail"] for r in unreadable)
    assert manifest.stats["by_source"]["texts"]["docs_in"] == 1  # fine.txt, read as usual
    with pytest.raises(InputError, match=r"caf\\xe9\.txt.*UTF-8|UTF-8.*caf\\xe9"):
        _run([good, folder], tmp_path / "ws2", strict=True)


def test_the_same_file_named_twice_is_read_once(tmp_path, good, monkeypatch):
    """`curate data/*.jsonl data/a.jsonl` (or `./a.jsonl` beside `a.jsonl`, or a folder holding it) names one file
    twice: it is one input, not three copies of every record rejected as duplicate ids."""
    monkeypatch.chdir(tmp_path)
    link = tmp_path / "link.jsonl"
    link.symlink_to(good)
    _, manifest, rejects = _run([good, "in/good.jsonl", "./in/good.jsonl", "in", link], tmp_path / "ws")
    assert manifest.stats["docs_in"] == 8 and "duplicate_doc_id" not in _reasons(rejects)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.zst"])
@pytest.mark.parametrize("length", [999, 1000, 1001])
def test_lines_at_the_max_bytes_boundary_come_the_same_way_from_every_reader(tmp_path, suffix, length):
    from lmforge.pipeline.curate.lines import CutLine, open_lines

    line = b"y" * length + b"\n"
    path = tmp_path / f"edge{suffix}"
    path.write_bytes(_pack(line + b'{"id": "b"}\n', suffix))
    got = list(open_lines(str(path), 1000))
    size = got[0].size if isinstance(got[0], CutLine) else len(got[0])
    assert size == length + 1 and bytes(got[0]) == line[:1001] and got[1] == b'{"id": "b"}\n'
