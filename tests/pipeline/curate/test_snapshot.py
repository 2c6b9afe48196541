"""The snapshot contract: schema, manifest written last, content-addressed, no-op re-run, byte-identical output."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.snapshot import curate, make_plan
from lmforge.pipeline.errors import IntegrityError
from lmforge.pipeline.stage import verify_files
from lmforge.schemas.manifest import Manifest
from lmforge.schemas.snapshot import SNAPSHOT_SCHEMA, validate_snapshot
from tests.support.curate import read_docs, read_folder, write_jsonl

FILTER_DATA = Path(__file__).resolve().parents[2] / "data" / "curate" / "filters"


@pytest.fixture()
def corpus(tmp_path):
    """Four sources in four formats: JSONL, JSONL.gz, Parquet with other field names, a folder of text files."""
    docs = read_docs()
    folder = tmp_path / "in"
    write_jsonl(folder / "web.jsonl", docs[:4] + docs[8:9])  # docs[8] is an exact copy of docs[0]
    with gzip.open(folder / "news.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[4:8])
    pq.write_table(
        pa.table({"uid": [d["id"] for d in docs[9:]], "body": [d["text"] for d in docs[9:]]}), folder / "extra.parquet"
    )
    texts = tmp_path / "books"
    texts.mkdir()
    (texts / "scheduler.txt").write_text((FILTER_DATA / "en_prose.txt").read_text(encoding="utf-8"))
    (texts / "ja.md").write_text((FILTER_DATA / "ja_prose.txt").read_text(encoding="utf-8"))
    return [str(folder / "web.jsonl"), str(folder / "news.jsonl.gz"), str(folder / "extra.parquet"), f"books={texts}"]


CFG = {"curate": {"sources": {"extra": {"fields": {"id": "uid", "text": "body"}}}}}


def test_snapshot_contract(tmp_path, corpus):
    cfg = load_config(overrides=CFG)
    snap = curate(corpus, tmp_path / "ws", cfg)
    m = Manifest.read(snap)
    assert m.format == "lmforge.snapshot" and m.id == snap.name and m.format_version == 1
    assert {"package", "git_sha"} <= m.code_version.keys()
    assert len(m.inputs["units"]) == 4 and all(len(u["sha256"]) == 64 for u in m.inputs["units"])
    assert verify_files(snap) == []
    data = read_folder(snap, "data")
    assert data.schema == SNAPSHOT_SCHEMA
    validate_snapshot(data, "all parts")
    assert set(data.column("source").to_pylist()) == {"web", "news", "books"}
    # both "extra" documents are lightly edited copies of "web" documents: removed as near duplicates
    assert m.stats["by_source"]["extra"] == {"docs_in": 2, "kept": 0, "rejected": {"near_duplicate": 2}}
    assert "web/en-bread" in data.column("doc_id").to_pylist()  # readable ids from the records' own ids
    assert {"en", "de", "zh"} <= set(data.column("lang").to_pylist())
    # PII in a kept or rejected document is redacted everywhere downstream
    everything = " ".join(
        data.column("text").to_pylist() + [t or "" for t in read_folder(snap, "rejects").column("text").to_pylist()]
    )
    assert "maria.keller" not in everything and "1234567" not in everything
    # exact and near duplicates were removed, with their keeper
    dups = {d["doc_id"]: d for d in pq.read_table(snap / "duplicates.parquet").to_pylist()}
    assert dups["web/en-bread-copy"]["duplicate_of"] == "web/en-bread"
    assert dups["web/en-bread-copy"]["reason"] == "exact_duplicate"
    assert dups["extra/en-rivers-edited"]["duplicate_of"] == "web/en-rivers"
    assert 0.8 <= dups["extra/en-rivers-edited"]["similarity"] < 1.0
    assert m.stats["kept"] == data.num_rows
    for src, e in m.stats["by_source"].items():
        assert e["docs_in"] == e["kept"] + sum(e["rejected"].values()), src
    assert not list((tmp_path / "ws" / "snapshots").glob(".tmp-*"))


def test_rerun_is_noop_and_output_is_byte_identical(tmp_path, corpus):
    cfg = load_config(overrides=CFG)
    a = curate(corpus, tmp_path / "ws1", cfg)
    before = {p.name: p.stat().st_mtime_ns for p in a.rglob("*")}
    assert curate(corpus, tmp_path / "ws1", cfg) == a
    assert {p.name: p.stat().st_mtime_ns for p in a.rglob("*")} == before
    b = curate(corpus, tmp_path / "ws2", cfg)
    assert a.name == b.name
    for f in sorted(p.relative_to(a) for p in a.rglob("*.parquet")):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_params_change_the_snapshot_id(tmp_path, corpus):
    base = make_plan(corpus, tmp_path / "ws", load_config(overrides=CFG))
    other = make_plan(corpus, tmp_path / "ws", load_config(overrides={**CFG, "dedup": {"enabled": False}}))
    assert base.snapshot_id != other.snapshot_id


def test_validation_rejects_a_broken_table():
    validate_snapshot(SNAPSHOT_SCHEMA.empty_table(), "empty")  # an empty table is valid
    with pytest.raises(IntegrityError, match="schema differs"):
        validate_snapshot(pa.table({"doc_id": ["a"]}), "other.parquet")
    row = {
        "doc_id": "a",
        "text": "abc",
        "source": "s",
        "url": None,
        "created_at": None,
        "lang": "en",
        "lang_score": 0.9,
        "n_chars": 99,
        "content_hash": "0" * 32,
    }
    with pytest.raises(IntegrityError, match="n_chars"):
        validate_snapshot(pa.Table.from_pylist([row], schema=SNAPSHOT_SCHEMA), "broken.parquet")


@pytest.mark.parametrize("precomputed", [False, True], ids=["serial", "flow-signatures"])
def test_the_same_ids_in_two_files_keep_the_first_copy(tmp_path, precomputed):
    """Two files of one source with the same records: the second file's copies are `duplicate_doc_id` rejects and
    the first file's documents are kept as if it were curated alone. The flow computes each part's signatures before
    the ids are made unique; the dedup must not see the dropped copies as duplicates of the kept ones."""
    from lmforge.pipeline.curate.process import UnitCurator
    from lmforge.pipeline.curate.snapshot import finalize_snapshot
    from lmforge.pipeline.dedup.signatures import compute_signatures

    docs = read_docs()
    a = write_jsonl(tmp_path / "in" / "a.jsonl", docs)
    b = write_jsonl(tmp_path / "in" / "b.jsonl", docs)
    cfg = load_config()
    alone = read_folder(curate([f"web={a}"], tmp_path / "alone", cfg), "data")
    inputs = [f"web={a}", f"web={b}"]
    if precomputed:
        plan = make_plan(inputs, tmp_path / "ws", cfg)
        curator = UnitCurator(cfg)
        results = [curator.curate_unit(u, d, plan.work_dir) for u, d in zip(plan.units, plan.digests, strict=True)]
        sigs = [compute_signatures(Path(r.part), cfg.dedup, plan.work_dir / "signatures") for r in results]
        snap = finalize_snapshot(plan, results, cfg, signatures=sigs)
    else:
        snap = curate(inputs, tmp_path / "ws", cfg)
    data = read_folder(snap, "data")
    assert data.column("doc_id").to_pylist() == alone.column("doc_id").to_pylist()
    assert data.column("text").to_pylist() == alone.column("text").to_pylist()
    stats = Manifest.read(snap).stats["by_source"]["web"]
    assert stats["docs_in"] == 2 * len(docs) and stats["kept"] == alone.num_rows
    assert stats["rejected"]["duplicate_doc_id"] == len(docs)
    # each copy names its file and the file that had the id first (it named neither: path "", "another file"), as
    # record ids do, whatever way their paths were typed (`inputs.location`)
    dup = [r for r in read_folder(snap, "rejects").to_pylist() if r["reason"] == "duplicate_doc_id"]
    assert {(r["path"], r["detail"]) for r in dup} == {("in/b.jsonl", "id already used in in/a.jsonl")}


def test_relative_raw_inputs_verify_from_any_folder(tmp_path, monkeypatch):
    """`lineage --verify` recomputes raw input digests; inputs given as relative paths are found from the folder
    curation ran in (the manifest's `inputs.cwd`), whatever the current folder is then."""
    from lmforge.pipeline.registry.lineage import verify_raw

    docs = read_docs()
    project = tmp_path / "project"
    write_jsonl(project / "corp" / "a.jsonl", docs[:6])
    (project / "corp" / "notes").mkdir()
    (project / "corp" / "notes" / "one.txt").write_text((FILTER_DATA / "en_prose.txt").read_text(encoding="utf-8"))
    (project / "corp" / "empty").mkdir()
    monkeypatch.chdir(project)
    cfg = load_config(overrides={"dedup": {"enabled": False}})
    snap = curate(["corp/a.jsonl", "corp/notes", "corp/empty"], project / "ws", cfg)
    inputs = Manifest.read(snap).inputs
    assert inputs["cwd"] == str(project) and {u["kind"] for u in inputs["units"]} == {"jsonl", "textdir", "empty_dir"}
    monkeypatch.chdir(tmp_path)
    assert [verify_raw(u, [".txt", ".md"], inputs["cwd"]) for u in inputs["units"]] == [None, None, None]
    (project / "corp" / "a.jsonl").write_text("changed\n")
    problems = [p for u in inputs["units"] if (p := verify_raw(u, [".txt", ".md"], inputs["cwd"]))]
    assert len(problems) == 1
    assert problems[0].startswith(f"{project / 'corp' / 'a.jsonl'}: raw input digest differs from the snapshot")


def _batches(tmp_path):
    """Two batches of the same documents under other ids: the second's are all duplicates of the first's."""
    docs = read_docs()[:12]
    a = write_jsonl(tmp_path / "day1" / "a.jsonl", [{"id": f"a{i}", "text": d["text"]} for i, d in enumerate(docs)])
    b = write_jsonl(tmp_path / "day2" / "b.jsonl", [{"id": f"b{i}", "text": d["text"]} for i, d in enumerate(docs)])
    return a, b


def test_a_batch_that_failed_before_publishing_leaves_the_index_untouched(tmp_path, monkeypatch):
    """The index must only hold published documents: a batch that failed and was never re-run otherwise made the
    next batch drop its copies as duplicates of documents nobody can read."""
    from lmforge.pipeline.curate import snapshot

    a, b = _batches(tmp_path)
    ws, cfg = tmp_path / "ws", load_config()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(snapshot, "write_manifest", crash)
    with pytest.raises(OSError, match="disk full"):
        curate([str(a)], ws, cfg)
    monkeypatch.undo()
    second = Manifest.read(curate([str(b)], ws, cfg))
    alone = Manifest.read(curate([str(b)], tmp_path / "fresh", cfg))  # what b keeps with an empty index
    assert second.stats["kept"] == alone.stats["kept"] > 0


def test_a_batch_published_but_not_indexed_is_indexed_by_its_re_run(tmp_path, monkeypatch):
    from lmforge.pipeline.dedup.index import LocalIndex

    a, b = _batches(tmp_path)
    ws, cfg = tmp_path / "ws", load_config()
    real_add = LocalIndex.add

    def crash(self, *args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(LocalIndex, "add", crash)
    with pytest.raises(OSError, match="killed"):
        curate([str(a)], ws, cfg)
    assert make_plan([str(a)], ws, cfg).done  # the snapshot was published before the index was touched
    monkeypatch.setattr(LocalIndex, "add", real_add)
    first = curate([str(a)], ws, cfg)  # a re-run only adds the published snapshot to the index
    assert Manifest.read(first).stats["kept"] > 0
    second = Manifest.read(curate([str(b)], ws, cfg))
    assert second.stats["kept"] == 0 and second.stats["docs_in"] == Manifest.read(first).stats["docs_in"]


def test_records_without_ids_in_same_named_daily_files_get_their_own_ids(tmp_path):
    """`news=day1/data.jsonl`, then `news=day2/data.jsonl`: records without an id were named by file name and line
    only, so day 2's first record took day 1's id, and dedup took day 2's copy of a day-1 document for that
    document itself and kept it."""
    docs = read_docs()[:10]
    day1 = write_jsonl(tmp_path / "2024-01-01" / "data.jsonl", [{"text": d["text"]} for d in docs[:5]])
    # day 2: a copy of day 1's second document, then new ones
    day2 = write_jsonl(tmp_path / "2024-01-02" / "data.jsonl", [{"text": d["text"]} for d in docs[1:2] + docs[5:]])
    ws, cfg = tmp_path / "ws", load_config()
    first = curate([f"news={day1}"], ws, cfg)
    second = curate([f"news={day2}"], ws, cfg)
    ids1 = set(read_folder(first, "data").column("doc_id").to_pylist())
    rows2 = read_folder(second, "data").to_pylist() + read_folder(second, "rejects").to_pylist()
    assert not ids1 & {r["doc_id"] for r in rows2}
    copy = [r for r in rows2 if r["text"] == docs[1]["text"]]
    assert [r["reason"] for r in copy] == ["exact_duplicate"] and copy[0]["duplicate_of"] in ids1


def test_records_without_ids_in_same_named_files_of_two_subfolders_are_all_kept(tmp_path):
    """`in/siteA/2024/data.jsonl` and `in/siteB/2024/data.jsonl`: records without an id were named by the file's
    folder and name (`2024/data.jsonl`) and line, so the second file's records took the first's ids and were all
    rejected as `duplicate_doc_id`, although they are other documents (now: its path inside the input folder)."""
    docs = read_docs()
    for site, part in (("siteA", docs[:4]), ("siteB", docs[4:8])):
        write_jsonl(tmp_path / "in" / site / "2024" / "data.jsonl", [{"text": d["text"]} for d in part])
    snap = curate([str(tmp_path / "in")], tmp_path / "ws", load_config(overrides={"dedup": {"enabled": False}}))
    assert Manifest.read(snap).stats["by_source"]["in"] == {"docs_in": 8, "kept": 8, "rejected": {}}


def test_records_without_ids_in_same_named_files_of_two_roots_are_all_kept(tmp_path):
    """`curate /crawlA/2024-01-01/data.jsonl /crawlB/2024-01-01/data.jsonl`: one source (`data`), and both files
    were keyed `2024-01-01/data.jsonl`, so the second file's records took the first's ids line by line and were all
    rejected as `duplicate_doc_id`. Clashing keys now take one folder more; a file that clashes with none keeps its
    key, and with it its ids."""
    docs = read_docs()
    files = [
        write_jsonl(tmp_path / root / "2024-01-01" / "data.jsonl", [{"text": d["text"]} for d in part])
        for root, part in (("crawlA", docs[:4]), ("crawlB", docs[4:8]))
    ]
    cfg = load_config(overrides={"dedup": {"enabled": False}})
    snap = curate([str(f) for f in files], tmp_path / "ws", cfg)
    assert Manifest.read(snap).stats["by_source"]["data"] == {"docs_in": 8, "kept": 8, "rejected": {}}
    assert [u.key for u in make_plan([str(f) for f in files], tmp_path / "ws", cfg).units] == [
        "crawlA/2024-01-01/data.jsonl",
        "crawlB/2024-01-01/data.jsonl",
    ]
    assert [u.key for u in make_plan([str(files[0])], tmp_path / "ws", cfg).units] == ["2024-01-01/data.jsonl"]


def test_ids_of_records_without_ids_do_not_depend_on_how_the_path_is_spelled(tmp_path, monkeypatch):
    """`curate data.jsonl` inside its folder and `curate /abs/day/data.jsonl` (or `curate .` and the folder's own
    path) read the same records, but a relative path had no folder to name: other ids, so a later batch's dedup
    took a document already published for a copy of another one (and the ids of one snapshot depended on the
    shell's working folder)."""
    docs = read_docs()
    day = tmp_path / "2024-01-01"
    write_jsonl(day / "data.jsonl", [{"text": d["text"]} for d in docs[:3]])
    write_jsonl(day / "more" / "extra.jsonl", [{"text": d["text"]} for d in docs[3:5]])
    cfg = load_config(overrides={"dedup": {"enabled": False}})
    monkeypatch.chdir(day)

    def ids(arg: str, ws: str) -> list[str]:
        return sorted(read_folder(curate([arg], tmp_path / ws, cfg), "data").column("doc_id").to_pylist())

    assert ids("data.jsonl", "ws1") == ids(str(day / "data.jsonl"), "ws2")
    assert ids(".", "ws3") == ids(str(day), "ws4") == ids(f"{day}/", "ws5")


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ("[]", "a JSON array"),
        ('"lmforge.snapshot"', "a JSON string"),
        ("files-not-a-list", "files"),
        ("file-without-sha256", "files"),
        ("file-with-unknown-field", "files"),
    ],
)
def test_a_manifest_of_the_wrong_shape_is_an_integrity_error_naming_it(tmp_path, content, what):
    """Valid JSON that is no manifest (a hand edit, another tool's file) was an AttributeError or TypeError
    traceback from `Manifest.read`, not the one-line IntegrityError a damaged manifest gets."""
    good = {"format": "lmforge.snapshot", "id": "x", "created_at": "now", "inputs": {}, "params": {}}
    good["code_version"] = {}
    entry = {"path": "data/part-00000.parquet", "bytes": 1, "sha256": "0" * 64}
    shapes = {
        "files-not-a-list": {**good, "files": "data/part-00000.parquet"},
        "file-without-sha256": {**good, "files": [{k: v for k, v in entry.items() if k != "sha256"}]},
        "file-with-unknown-field": {**good, "files": [{**entry, "md5": "0"}]},
    }
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(shapes[content]) if content in shapes else content)
    with pytest.raises(IntegrityError, match=rf"manifest\.json: .*{what}"):
        Manifest.read(folder)


def test_rejects_do_not_depend_on_how_the_input_path_is_spelled(tmp_path, monkeypatch):
    """`./in/a.jsonl` and `/abs/in/a.jsonl` are the same inputs and the same snapshot id (it holds no path), but each
    reject row recorded the path as typed, so the two snapshots' rejects files differed byte for byte. Rows name
    the file as record ids do (`inputs.location`: its folder's name and its name)."""
    docs = read_docs()
    project = tmp_path / "project"
    a = write_jsonl(project / "in" / "a.jsonl", docs[:6])
    write_jsonl(project / "in" / "b.jsonl", docs[:2] + docs[6:9])  # two ids of a.jsonl again
    with open(a, "a", encoding="utf-8") as f:
        f.write('{"id": "broken", "text": \n')  # malformed JSON
    (project / "in" / "texts").mkdir()
    (project / "in" / "texts" / "short.txt").write_text("Too short.\n", encoding="utf-8")
    cfg = load_config()
    monkeypatch.chdir(project)
    first = curate(["web=./in/a.jsonl", "web=in/b.jsonl", "in/texts/"], tmp_path / "ws1", cfg)
    monkeypatch.chdir(tmp_path)
    second = curate(
        [f"web={a}", f"web={project}/in/../in/b.jsonl", str(project / "in" / "texts")], tmp_path / "ws2", cfg
    )
    assert first.name == second.name
    # and the units were ordered by path as typed (`/abs/in/../in/b.jsonl` before `/abs/in/a.jsonl`): which copy of
    # an id, and of a duplicate, was kept depended on it too
    files = sorted(p.relative_to(first) for p in first.rglob("*.parquet"))
    assert len([f for f in files if f.parts[0] == "rejects"]) >= 3
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    paths = {(r["reason"], r["path"]) for r in read_folder(first, "rejects").to_pylist() if r["path"]}
    assert {("malformed_json", "in/a.jsonl"), ("duplicate_doc_id", "in/b.jsonl")} <= paths
    assert any(reason != "malformed_json" and path == "texts/short.txt" for reason, path in paths), paths
