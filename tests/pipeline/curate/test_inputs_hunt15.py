"""Input defects: UTF-16 CJK text without a byte-order mark read as UTF-8 (and rejected), and source names and
paths holding personal data written raw into the snapshot manifest."""

from __future__ import annotations

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.inputs import plan_inputs, safe_name
from lmforge.pipeline.curate.readers import RawRecord, RecordReader, unmarked_utf16_cjk
from lmforge.schemas.manifest import Manifest
from tests.support.curate import read_docs, read_folder, write_jsonl
from tests.support.dedup import paragraphs

ZH = "\n".join(paragraphs("zh")[:4]) + "\n"
JA = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所でニャーニャー泣いていた。\n"
KO = "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.\n" * 3
FR = "Le café était très agréable, la naïveté déjà vue à l'école élémentaire. Où est la bibliothèque ?\n" * 20


def _read(path) -> list:
    cfg = load_config()
    reader = RecordReader(cfg.curate.fields, cfg.curate.clean)
    return [item for unit in plan_inputs([str(path)], cfg.curate.text_extensions) for item in reader.read(unit)]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [ZH, JA, KO, ZH.replace("\n", "")], ids=["zh", "ja", "ko", "zh-one-line"])
def test_utf16_cjk_text_without_a_mark_is_read(tmp_path, encoding, text):
    """`iconv -t UTF-16LE` writes no mark; CJK text has no ASCII spaces whose NUL high bytes give UTF-16 away, so
    the file was read as UTF-8 and rejected as `invalid_utf8` (or, with `invalid_utf8 = "replace"`, kept as
    replacement characters)."""
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode(encoding))
    (item,) = _read(path)
    assert isinstance(item, RawRecord) and item.text == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(FR, "latin-1"), (FR, "cp1252"), (JA * 3, "shift_jis"), (ZH, "gbk"), (JA * 3, "euc-jp"), (KO, "euc-kr")],
)
def test_legacy_encodings_are_not_taken_for_utf16(text, encoding):
    """A single-byte encoding read as UTF-16 pairs ASCII letters into CJK ideographs, and Shift_JIS read big-endian
    is all ideographs: neither may pass for UTF-16 (they stay invalid UTF-8 rejects)."""
    data = text.encode(encoding)
    assert unmarked_utf16_cjk(data[: len(data) // 2 * 2]) is None


def test_utf8_text_is_never_taken_for_utf16(tmp_path):
    for text in (ZH, JA, KO, FR, "ab" * 50):
        data = text.encode("utf-8")
        assert unmarked_utf16_cjk(data[: len(data) // 2 * 2]) is None
    path = tmp_path / "zh.txt"
    path.write_text(ZH, encoding="utf-8")
    (item,) = _read(path)
    assert isinstance(item, RawRecord) and item.text == ZH


def test_personal_data_in_source_names_and_paths_stays_out_of_the_manifest(tmp_path, monkeypatch):
    """`NAME=PATH` with an e-mail address as NAME, and a folder named after one: the rows' `source` was redacted
    (`<EMAIL>~…`) but the manifest's units held the name and the path as given; manifests are lineage (MLflow
    artifacts) and must hold no personal data. The units still verify against the raw files by digest."""
    from lmforge.pipeline.curate.snapshot import curate
    from lmforge.pipeline.registry.lineage import verify_raw

    docs = read_docs()
    write_jsonl(tmp_path / "in" / "a.jsonl", docs[:4])
    folder = tmp_path / "jane.doe@example.org"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "one.txt").write_text("\n".join(paragraphs("en")[:3]), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    inputs = [f"max.mustermann@example.com={tmp_path / 'in' / 'a.jsonl'}", str(folder)]
    cfg = load_config(overrides={"dedup": {"enabled": False}})
    snap = curate(inputs, tmp_path / "ws", cfg)
    raw = (snap / "manifest.json").read_text(encoding="utf-8")
    assert "max.mustermann" not in raw and "jane.doe" not in raw and "<EMAIL>~" in raw
    units = Manifest.read(snap).inputs["units"]
    rows = set(read_folder(snap, "data").column("source").to_pylist())
    assert {u["source"] for u in units} == rows == {safe_name("max.mustermann@example.com"), safe_name(folder.name)}
    named = next(u for u in units if u["kind"] == "jsonl")
    assert verify_raw(named, cfg.curate.text_extensions, str(tmp_path)) is None  # its path holds no personal data
    textdir = next(u for u in units if u["kind"] == "textdir")
    assert "raw input missing" in verify_raw(textdir, cfg.curate.text_extensions, str(tmp_path))


def test_safe_names_are_their_own_safe_names():
    for name in ("jane.doe@example.org", "/data/jane.doe@example.org/x.jsonl", "web", "/data/2024/05/a.jsonl"):
        assert safe_name(safe_name(name)) == safe_name(name)
    assert safe_name("web") == "web" and safe_name("/data/2024/05/a.jsonl") == "/data/2024/05/a.jsonl"


def test_a_parquet_file_with_its_text_column_twice_is_a_reject(tmp_path):
    """Two columns named `text`: each row became a dict keeping the last one's value, so the first column's texts
    were dropped without a word (a JSON line naming its text twice is a `malformed_json` reject)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["one"]), pa.array(["two"])], names=["id", "text", "text"])
    pq.write_table(table, path)
    (reject,) = _read(path)
    assert (reject.reason, reject.line) == ("unreadable", None)
    assert "'text' appears 2 times" in reject.detail and reject.path == str(path)


def test_a_link_to_a_folder_above_is_a_loop_not_followed(tmp_path):
    """`corpus/up -> ..` was walked: the folder above the input, and every other folder in it, was read as documents
    of `corpus` (only the same folder read twice was stopped)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("a document inside the input", encoding="utf-8")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "diary.txt").write_text("not an input", encoding="utf-8")
    (corpus / "up").symlink_to("..")
    (corpus / "self").symlink_to(".")
    (unit,) = plan_inputs([str(corpus)], [".txt"])
    assert unit.kind == "textdir" and unit.files == (str(corpus / "a.txt"),)
