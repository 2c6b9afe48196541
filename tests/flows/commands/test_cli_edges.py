"""Edge arguments found by trying every command from a shell: each is one `lmforge: error: …` line (exit 2), or a
warning for an option that would be silently ignored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmforge.flows.cli import main


@pytest.fixture(autouse=True)
def own_env(monkeypatch):
    """main() sets process env defaults for its workspace; keep them local."""
    monkeypatch.setattr(os, "environ", os.environ.copy())


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--top-p", "0", "Invalid value for '--top-p': 0.0 is not in the range 0<x<=1"),
        ("--top-p", "1.5", "Invalid value for '--top-p'"),
        ("--temperature", "-1", "Invalid value for '--temperature'"),
        ("--repetition-penalty", "0", "Invalid value for '--repetition-penalty'"),
    ],
)
def test_sampling_options_out_of_range_fail_before_a_model_loads(tmp_path: Path, capsys, option, value, message):
    """They were checked only once the checkpoint (or the MLflow model) had loaded: a missing checkpoint was
    reported instead, and with a real one the typo cost the load first."""
    assert main(["generate", str(tmp_path / "no-such-run"), option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lmforge: error: {message}") and len(err.strip().splitlines()) == 1, err


def test_sampling_options_with_greedy_are_said_to_be_ignored(tmp_path: Path, capsys) -> None:
    assert main(["generate", str(tmp_path / "no-such-run"), "--greedy", "--top-k", "5", "--seed", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "lmforge: warning: --greedy takes the most likely token: --top-k, --seed ignored"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trian"], "No such command 'trian'. Did you mean 'train'? (see 'lmforge --help')"),
        (["train", "--shards", "x", "--nproc", "0"], "Invalid value for '--nproc'"),
        (["pii", "scan", "in.jsonl"], "Missing option '--out'"),
        # a plain int: 0 went on to plan every day and failed later in the flow
        (
            ["backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--input-root", ".", "--concurrency", "0"]
            + ["--workspace", "{tmp}/ws"],  # the workspace is made before the bad value is seen (noted)
            "Invalid value for '--concurrency'",
        ),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, capsys, args, message) -> None:
    """click printed three lines (Usage:, Try '… --help', Error: …) for these, unlike every other user mistake."""
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lmforge: error: ") and message in err and len(err.strip().splitlines()) == 1, err
