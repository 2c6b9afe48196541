"""`lmforge pii scan|redact` arguments: an output path is checked before anything is opened for writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lmforge.flows.cli import main

RECORDS = [{"id": "a", "text": "Write to ada@example.org about the bread."}, {"id": "b", "text": "No personal data."}]


@pytest.fixture(autouse=True)
def own_env(monkeypatch):
    """main() sets process env defaults for its workspace (Prefect home, MLflow URI); keep them local."""
    monkeypatch.setattr(os, "environ", os.environ.copy())


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["scan", "redact"])
@pytest.mark.parametrize("option", ["--out", "--report"])
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(src, tmp_path, capsys, command, option):
    before = src.read_bytes()
    args = {"--out": str(tmp_path / "out.jsonl"), option: str(src)}
    assert main(["pii", command, str(src), *[x for kv in args.items() for x in kv]]) == 2
    err = capsys.readouterr().err
    assert "is the input file" in err and "Traceback" not in err
    assert src.read_bytes() == before


def test_an_output_in_a_missing_folder_is_one_line(src, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "spans.jsonl"
    assert main(["pii", "scan", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"folder {out.parent} does not exist" in err and len(err.strip().splitlines()) == 1
