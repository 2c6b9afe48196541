"""Stage folders: a killed build's temporary folder is removed by the next build of that stage on the same host, is
no output itself, and two processes building the same stage at once both succeed."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lmforge.pipeline.errors import NotFoundError
from lmforge.pipeline.stage import building, find_stage, is_done, latest_stage, write_manifest
from lmforge.schemas.manifest import MANIFEST_NAME


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _finish(tmp, name="a.txt"):
    (tmp / name).write_text("x")
    write_manifest(tmp, format="test", id_="s1", inputs={}, params={}, stats={})


def test_orphan_of_a_dead_process_is_removed_others_are_kept(tmp_path):
    final = tmp_path / "snapshots" / "s1"
    final.parent.mkdir()
    host = socket.gethostname()
    dead = final.parent / f".tmp-s1-{host}-{_dead_pid()}-deadbeef"
    alive = final.parent / f".tmp-s1-{host}-{os.getppid()}-0badf00d"  # our parent runs
    other_host = final.parent / f".tmp-s1-elsewhere.example-{_dead_pid()}-12345678"
    old_style = final.parent / ".tmp-s1-abcdef12"  # an earlier version's name: no owner known
    other_stage = final.parent / f".tmp-s2-{host}-{_dead_pid()}-aaaaaaaa"
    for d in (dead, alive, other_host, old_style, other_stage):
        d.mkdir()
        (d / "part.parquet").write_bytes(b"partial")

    with building(final) as tmp:
        assert tmp.name.startswith(f".tmp-s1-{host}-{os.getpid()}-")
        _finish(tmp)

    assert is_done(final)
    assert not dead.exists()
    assert alive.exists() and other_host.exists() and old_style.exists() and other_stage.exists()


def test_failed_build_leaves_no_temporary_folder(tmp_path):
    final = tmp_path / "shards" / "x"
    with pytest.raises(RuntimeError, match="without writing manifest.json"), building(final):
        pass
    assert list(final.parent.iterdir()) == []


def _build_many(root: str, count: int, barrier, results) -> None:
    """Build stages s0 … s<count-1> under `root`, meeting the other process at the barrier just before each publish;
    puts how many builds raised on `results`."""
    failed = 0
    for i in range(count):
        try:
            with building(Path(root) / "snapshots" / f"s{i}") as tmp:
                _finish(tmp)
                barrier.wait()
        except Exception:  # noqa: BLE001 - counted: the assertion below says how many
            failed += 1
    results.put(failed)


def test_two_processes_building_the_same_stage_both_succeed(tmp_path):
    """Two processes that finish the same stage together both succeed with one copy in place: the second rename onto
    the first's folder raised ENOTEMPTY when it came between the first's existence check and its rename (a worker of a
    backfill failed on a stage another had just published). Each build is published by both processes at once, many
    times over, so the narrow window is hit before the fix."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results, count = ctx.Barrier(2), ctx.Queue(), 1500
    procs = [ctx.Process(target=_build_many, args=(str(tmp_path), count, barrier, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    failures = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join()
    assert failures == [0, 0]
    finals = sorted((tmp_path / "snapshots").iterdir())
    assert len(finals) == count and all(is_done(d) and not d.name.startswith(".") for d in finals)


def test_temporary_folders_are_no_stage_outputs(tmp_path):
    """A build killed after writing its manifest, before the rename, leaves a `.tmp-…` folder that holds one:
    `latest_stage` took it for the newest snapshot (its name then named nothing), and `find_stage` listed it."""
    with building(tmp_path / "snapshots" / "s1") as tmp:
        _finish(tmp)
    orphan = tmp_path / "snapshots" / f".tmp-s2-{socket.gethostname()}-{os.getpid()}-0badf00d"
    orphan.mkdir()
    _finish(orphan)
    manifest = json.loads((orphan / MANIFEST_NAME).read_text())
    (orphan / MANIFEST_NAME).write_text(json.dumps({**manifest, "created_at": "2999-01-01T00:00:00+00:00"}))
    assert latest_stage(tmp_path, "snapshots") == tmp_path / "snapshots" / "s1"
    assert find_stage(tmp_path, "snapshots", "s") == tmp_path / "snapshots" / "s1"
    with pytest.raises(NotFoundError, match=r"known: s1\)$"):
        find_stage(tmp_path, "snapshots", ".tmp")


def _stage(root, name, id_=None):
    folder = root / name
    folder.mkdir(parents=True)
    write_manifest(folder, format="test", id_=id_ or name, inputs={}, params={}, stats={})
    return folder


def test_a_backup_copy_of_a_stage_is_neither_found_nor_makes_its_id_ambiguous(tmp_path):
    """`cp -r shards/<id> shards/<id>.bak`: the copy matched the id as a prefix, so the id was "ambiguous"; alone (the
    original removed), the copy was taken for the stage."""
    sid = "0123456789abcdef"
    real = _stage(tmp_path / "shards", sid)
    for copy in (f"{sid}.bak", f"{sid}-old", f"{sid} (copy)"):
        _stage(tmp_path / "shards", copy, id_=sid)
    assert find_stage(tmp_path, "shards", sid) == real
    assert find_stage(tmp_path, "shards", sid[:6]) == real
    assert latest_stage(tmp_path, "shards") == real
    shutil.rmtree(real)
    with pytest.raises(NotFoundError, match=r"no finished shard '0123456789abcdef'"):
        find_stage(tmp_path, "shards", sid)
    assert latest_stage(tmp_path, "shards") is None


def test_a_folder_named_like_an_id_whose_manifest_is_of_another_stage_is_no_stage(tmp_path):
    """A stage folder renamed (`mv <id> <other-id>`): its files are the other stage's; the id it is named by names
    nothing. The stage's own path still opens it (the user named that folder)."""
    renamed = _stage(tmp_path / "snapshots", "aaaaaaaaaaaaaaaa", id_="bbbbbbbbbbbbbbbb")
    with pytest.raises(NotFoundError):
        find_stage(tmp_path, "snapshots", "aaaa")
    assert find_stage(tmp_path, "snapshots", str(renamed)) == renamed
