"""Stage folders: a killed build's temporary folder is removed by the next build of that stage on the same host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from lmforge.pipeline.stage import building, is_done, write_manifest


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
