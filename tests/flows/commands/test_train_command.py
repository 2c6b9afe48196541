"""`lmforge train`: options, and user mistakes as one line with exit 2 (before Prefect starts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.flows.cli import main


def test_unknown_shards_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["train", "--shards", "nope", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lmforge: error: no finished shard 'nope' under {tmp_path / 'shards'}"]


def test_help_lists_the_launch_options(capsys) -> None:
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--shards", "--config", "--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint", "--resume"):
        assert option in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nproc", "0"], "--nproc"),
        (["--nproc", "-1"], "--nproc"),
        (["--nnodes", "0"], "--nnodes"),
        (["--node-rank", "-1"], "--node-rank"),
    ],
)
def test_bad_process_counts_are_refused_before_any_work(tmp_path: Path, capsys, args, message) -> None:
    assert main(["train", "--shards", "nope", "--workspace", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
