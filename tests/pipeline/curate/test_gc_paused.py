"""Curation pauses Python's cyclic garbage collector while it curates a unit (`process.gc_paused`): that is only
sound while curating makes no reference cycles, and the collector must be back on afterwards whatever happens."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.gc_pause import gc_paused
from lmforge.pipeline.curate.inputs import InputUnit
from lmforge.pipeline.curate.process import UnitCurator
from tests.support.curate import read_docs


def _mixed_input(path: Path) -> Path:
    """Real documents with every kind of record-level reject between them (bad UTF-8, JSON, fields, duplicates)."""
    lines = []
    for i, doc in enumerate(read_docs()):
        lines.append(json.dumps({"id": f"d{i}", "text": doc["text"], "url": doc.get("url")}).encode())
        lines += [b'{"id": "x", "text": "caf\xe9"}', b"{oops", b'{"id": 1, "text": 5}', b"[1, 2]"]
    lines.append(lines[0])  # a duplicate id
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_curating_a_unit_makes_no_reference_cycles(tmp_path) -> None:
    """Counted in a fresh interpreter: in the test process, threads that earlier tests started (Prefect's services)
    make garbage of their own while the collector is off."""
    src = _mixed_input(tmp_path / "in.jsonl")
    script = f"""
import gc
from pathlib import Path
from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.inputs import InputUnit
from lmforge.pipeline.curate.process import UnitCurator

curator = UnitCurator(load_config(overrides={{"dedup": {{"enabled": False}}}}))
unit = InputUnit("jsonl", {str(src)!r}, "s")
curator.curate_unit(unit, "warm", Path({str(tmp_path / "a")!r}))  # first-use caches, once
gc.collect()
gc.disable()
result = curator.curate_unit(unit, "again", Path({str(tmp_path / "b")!r}))
print(sum(result.kept.values()), sum(sum(r.values()) for r in result.rejected.values()), gc.collect())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    kept, rejected, garbage = map(int, proc.stdout.split())
    assert kept > 0 and rejected > 0
    assert garbage == 0  # nothing left for the collector: pausing it loses no memory


def test_the_collector_is_back_on_after_a_unit_and_after_an_error(tmp_path) -> None:
    assert gc.isenabled()
    curator = UnitCurator(load_config(overrides={"dedup": {"enabled": False}}))
    curator.curate_unit(InputUnit("jsonl", str(_mixed_input(tmp_path / "in.jsonl")), "s"), "u", tmp_path / "out")
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("a unit failed")
    assert gc.isenabled()


def test_overlapping_units_in_threads_leave_the_collector_on() -> None:
    """Unit A pauses, unit B pauses, A ends (B still running: still paused), B ends: on again."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def unit_a() -> None:
        with gc_paused():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def unit_b() -> None:
        a_in.wait(5)
        with gc_paused():
            b_in.set()
            a_out.wait(5)
            seen["after_a"] = gc.isenabled()

    threads = [threading.Thread(target=unit_a), threading.Thread(target=unit_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after_a": False} and gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
