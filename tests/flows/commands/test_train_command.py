"""`lmforge train`: options, and user mistakes as one line with exit 2 (before Prefect starts)."""

from __future__ import annotations

import os
import subprocess
import sys
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


def lmforge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The console script in a fresh process: Prefect keeps the settings it was first imported with."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "MLFLOW_TRACKING_URI")}
    return subprocess.run(
        [sys.executable, "-m", "lmforge.flows", *args],
        capture_output=True,
        text=True,
        env={**inherited, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **env},  # keeps the unfixed path short
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, "MLflow tracking server http://127.0.0.1:9 is unreachable"),
        ({"PREFECT_API_URL": "http://127.0.0.1:9/api"}, "Prefect API at http://127.0.0.1:9/api is unreachable"),
    ],
)
def test_unreachable_servers_fail_before_any_work(tmp_path: Path, env: dict[str, str], message: str) -> None:
    """An MLflow server that does not answer made the worker retry for minutes, then fail with a torchrun traceback
    that never named MLflow; a Prefect API that does not answer was a RuntimeError traceback."""
    from tests.support.shards import make_shards

    shards = make_shards(tmp_path / "ws")
    proc = lmforge("train", "--shards", shards.name, "--workspace", str(tmp_path / "ws"), env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-3000:]  # one line, no traceback
    assert message in proc.stderr
    assert not (tmp_path / "ws" / "runs").exists()


def test_mlflow_off_in_the_config_needs_no_tracking_server(tmp_path: Path, monkeypatch) -> None:
    """`[train.tracking] mlflow = false` trains without MLflow: its server being down is no reason to refuse."""
    from lmforge.flows.commands.train import check_servers

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    config = tmp_path / "train.toml"
    config.write_text("[train.tracking]\nmlflow = false\n", encoding="utf-8")
    check_servers(config)  # no error
