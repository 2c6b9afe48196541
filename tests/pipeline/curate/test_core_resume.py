"""Resuming a curation whose work folder was damaged between runs, a re-run with one more input, and two runs of one
snapshot at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.process import UnitCurator, unit_result_path
from lmforge.pipeline.curate.snapshot import CurationPlan, curate, finalize_snapshot, make_plan
from lmforge.pipeline.errors import IntegrityError
from lmforge.pipeline.stage import verify_files
from lmforge.schemas.manifest import Manifest
from tests.support.curate import NO_DEDUP, read_docs, read_folder, write_jsonl


@pytest.fixture()
def inputs(tmp_path) -> list[str]:
    docs = read_docs()
    b = [*docs[5:9], {"id": "short", "text": "Too short to keep."}]  # a reject: b's unit has a rejects file
    return [str(write_jsonl(tmp_path / "in" / "a.jsonl", docs[:5])), str(write_jsonl(tmp_path / "in" / "b.jsonl", b))]


def _curate_units(inputs: list[str], ws: Path) -> tuple[CurationPlan, list]:
    """Curate every unit of a plan but stop before the snapshot (a run that was interrupted there)."""
    cfg = load_config(overrides=NO_DEDUP)
    plan = make_plan(inputs, ws, cfg)
    curator = UnitCurator(cfg)
    return plan, [curator.curate_unit(u, d, plan.work_dir) for u, d in zip(plan.units, plan.digests, strict=True)]


def _check_snapshot(snap: Path) -> Manifest:
    m = Manifest.read(snap)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (snap / "data").glob("*.parquet"))
    assert m.stats["kept"] == rows == read_folder(snap, "data").num_rows
    for src in m.stats["by_source"].values():
        assert src["docs_in"] == src["kept"] + sum(src["rejected"].values())
    return m


def test_a_damaged_unit_result_is_curated_again(tmp_path, inputs) -> None:
    reference = _check_snapshot(curate(inputs, tmp_path / "ref", load_config(overrides=NO_DEDUP)))
    plan, _ = _curate_units(inputs, tmp_path / "ws")
    damaged = unit_result_path(plan.work_dir, plan.digests[0])
    damaged.write_text(damaged.read_text()[:40])  # a disk that filled up mid-write, or a hand edit
    m = _check_snapshot(curate(inputs, tmp_path / "ws", load_config(overrides=NO_DEDUP)))
    assert m.stats == reference.stats


@pytest.mark.parametrize("lost", ["part", "rejects"])
def test_a_unit_whose_files_are_gone_is_curated_again(tmp_path, inputs, lost) -> None:
    reference = _check_snapshot(curate(inputs, tmp_path / "ref", load_config(overrides=NO_DEDUP)))
    _, results = _curate_units(inputs, tmp_path / "ws")
    Path(next(getattr(r, lost) for r in results if getattr(r, lost))).unlink()
    m = _check_snapshot(curate(inputs, tmp_path / "ws", load_config(overrides=NO_DEDUP)))
    assert m.stats == reference.stats


def test_finalizing_results_whose_part_is_gone_names_the_input(tmp_path, inputs) -> None:
    plan, results = _curate_units(inputs, tmp_path / "ws")
    Path(results[1].part).unlink()
    with pytest.raises(IntegrityError, match=r"b\.jsonl: the curated part file .* is gone"):
        finalize_snapshot(plan, results, load_config(overrides=NO_DEDUP))
    assert not plan.done


def test_one_more_input_makes_a_new_snapshot_and_leaves_the_old_one(tmp_path, inputs) -> None:
    cfg = load_config(overrides=NO_DEDUP)
    first = curate(inputs[:1], tmp_path / "ws", cfg)
    before = {p.name: p.read_bytes() for p in sorted(first.rglob("*")) if p.is_file()}
    second = curate(inputs, tmp_path / "ws", cfg)
    assert second != first and second.parent == first.parent
    assert {p.name: p.read_bytes() for p in sorted(first.rglob("*")) if p.is_file()} == before
    m1, m2 = _check_snapshot(first), _check_snapshot(second)
    assert m2.stats["docs_in"] == m1.stats["docs_in"] + 5 and m2.stats["rejected"] == m1.stats["rejected"] + 1


def test_the_flow_reuses_no_cached_unit_whose_files_are_gone(tmp_path, inputs) -> None:
    """The curate flow's cache key named a unit's Prefect result while its result json existed, even with its part
    file gone: the flow then finalised from a result without its rows (now: no key, the unit runs again)."""
    from lmforge.flows.curate import _unit_cache_key

    plan, results = _curate_units(inputs, tmp_path / "ws")
    keys = [_unit_cache_key(None, {"work_dir": str(plan.work_dir), "unit_digest": d}) for d in plan.digests]
    assert all(keys)
    Path(results[1].part).unlink()
    assert _unit_cache_key(None, {"work_dir": str(plan.work_dir), "unit_digest": plan.digests[1]}) is None
    assert _unit_cache_key(None, {"work_dir": str(plan.work_dir), "unit_digest": plan.digests[0]}) == keys[0]


def test_two_curations_of_one_unit_at_once_both_finish(tmp_path, monkeypatch) -> None:
    """Identical files of one source are one unit digest, and the flow's thread pool curates them at once: the
    second to publish found its temporary part (named by the process id alone, which both share) moved away by the
    first, FileNotFoundError."""
    from lmforge.pipeline.curate import process

    docs = read_docs()
    inputs = [str(write_jsonl(tmp_path / "in" / sub / "data.jsonl", docs[:6])) for sub in ("a", "b")]
    cfg = load_config(overrides=NO_DEDUP)
    plan = make_plan([str(tmp_path / "in")], tmp_path / "ws", cfg)
    assert len(set(plan.digests)) == 1 and len(plan.units) == len(inputs)
    publish, nested, started = process._publish, [], []

    def publish_after_the_other_worker(tmp: str | None, tag: str) -> str | None:
        if not started:  # the other worker runs the whole unit between this one's writing and publishing its part
            started.append(True)
            nested.append(UnitCurator(cfg).curate_unit(plan.units[1], plan.digests[1], plan.work_dir))
        return publish(tmp, tag)

    monkeypatch.setattr(process, "_publish", publish_after_the_other_worker)
    first = UnitCurator(cfg).curate_unit(plan.units[0], plan.digests[0], plan.work_dir)
    assert (first.part, first.kept) == (nested[0].part, nested[0].kept)
    assert pq.read_table(first.part).num_rows == 6
    monkeypatch.undo()
    m = _check_snapshot(finalize_snapshot(plan, [first, nested[0]], cfg))
    assert m.stats["kept"] == 6 and m.stats["by_reason"] == {"duplicate_doc_id": 6}


def test_either_copy_of_one_file_curates_to_the_same_part(tmp_path) -> None:
    """Copies of one file (one unit digest) share one part, which the flow's concurrent tasks may each write: its
    records without an id were named after the copy that wrote it, so the snapshot's ids changed from run to run."""
    docs = read_docs()
    for site in ("siteA", "siteC"):
        write_jsonl(tmp_path / "in" / site / "2024" / "data.jsonl", [{"text": d["text"]} for d in docs[:4]])
    cfg = load_config(overrides=NO_DEDUP)
    plan = make_plan([str(tmp_path / "in")], tmp_path / "ws", cfg)
    assert plan.digests[0] == plan.digests[1]
    ids = [
        pq.read_table(UnitCurator(cfg).curate_unit(u, d, tmp_path / f"work{i}").part).column("doc_id").to_pylist()
        for i, (u, d) in enumerate(zip(plan.units, plan.digests, strict=True))
    ]
    assert ids[0] == ids[1] and len(set(ids[0])) == 4


def _curate_elsewhere(inputs: list[str], ws: Path) -> str:
    """A whole curation (dedup on, the local index) in another process: a second run of the same snapshot."""
    code = (
        "import json, sys\n"
        "from lmforge.pipeline.config import load_config\n"
        "from lmforge.pipeline.curate.snapshot import curate\n"
        "print(curate(json.loads(sys.argv[1]), sys.argv[2], load_config()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(inputs), str(ws)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_run_between_its_units_and_signatures_keeps_its_parts_when_another_run_publishes(tmp_path, inputs):
    """Two runs of one snapshot share its work folder (a schedule and a manual run): a run that finished removed it
    while the other, between its units and its signature tasks (the flow's steps), still had to read its parts, so
    that one failed with "snapshot part not found". Now the folder stays until the last run is done with it, and
    the slower run finds the snapshot published and reports it."""
    from lmforge.pipeline.dedup.signatures import compute_signatures

    cfg, ws = load_config(), tmp_path / "ws"
    plan = make_plan(inputs, ws, cfg)
    curator = UnitCurator(cfg)
    results = [curator.curate_unit(u, d, plan.work_dir) for u, d in zip(plan.units, plan.digests, strict=True)]
    assert _curate_elsewhere(inputs, ws) == str(plan.snapshot_dir)  # the other run finishes first
    signatures = [compute_signatures(Path(r.part), cfg.dedup, plan.work_dir / "signatures") for r in results]
    assert finalize_snapshot(plan, results, cfg, signatures=signatures) == plan.snapshot_dir
    assert verify_files(plan.snapshot_dir) == []
    _check_snapshot(plan.snapshot_dir)
    assert not plan.work_dir.exists()  # the last run removed it


def test_a_run_that_publishes_while_another_writes_a_part_leaves_that_part_be(tmp_path, inputs, monkeypatch):
    """Two runs of one snapshot in two threads: the first to finish removed the work folder while the other was
    between writing a part under its temporary name and renaming it, FileNotFoundError. Now the slower run finishes
    its unit, sees the snapshot published and keeps it, and removes the folder last."""
    from lmforge.pipeline.curate import process

    cfg, ws = load_config(), tmp_path / "ws"
    publish, others = process._publish, []

    def publish_after_another_run(tmp: str | None, tag: str) -> str | None:
        if not others:  # the other run does everything between this one's writing and publishing its first part
            others.append(None)
            thread = threading.Thread(target=lambda: others.append(curate(inputs, ws, cfg)))
            thread.start()
            thread.join()
        return publish(tmp, tag)

    monkeypatch.setattr(process, "_publish", publish_after_another_run)
    snap = curate(inputs, ws, cfg)
    assert others[1:] == [snap] and verify_files(snap) == []
    reference = _check_snapshot(curate(inputs, tmp_path / "ref", cfg))
    assert _check_snapshot(snap).stats == reference.stats
    assert not (ws / "snapshots" / ".work").exists() or not any((ws / "snapshots" / ".work").iterdir())


def test_two_runs_of_one_snapshot_in_two_processes_give_one_snapshot(tmp_path, inputs):
    """Both runs finish whatever the order they reach each step in; they report the same, intact snapshot."""
    ws = tmp_path / "ws"
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: _curate_elsewhere(inputs, ws), range(2)))
    assert paths[0] == paths[1]
    assert verify_files(Path(paths[0])) == []
    _check_snapshot(Path(paths[0]))
    assert not any((ws / "snapshots" / ".work").iterdir())
