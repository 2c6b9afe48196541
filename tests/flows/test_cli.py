"""The console script: help lists every stage; user mistakes print one line and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmforge.flows.cli import main


def _lmforge(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lmforge.flows", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_help_lists_every_stage(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("run", "curate", "dedup", "corpus", "pii", "tokenizer", "shards", "train", "evaluate", "generate"):
        assert f"  {cmd}" in out, cmd


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["curate", "does-not-exist.jsonl"], "does-not-exist.jsonl: input path does not exist"),
        (["run", "--stages", "curate,bogus"], "unknown stage(s) ['bogus']"),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    proc = _lmforge(*args, "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PREFECT_API_URL": "http://127.0.0.1:9/api"}, "Prefect API at http://127.0.0.1:9/api is unreachable"),
        ({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, "MLflow tracking server http://127.0.0.1:9 is unreachable"),
    ],
)
def test_unreachable_servers_fail_before_any_work(tmp_path, env, message):
    proc = _lmforge("run", "--workspace", str(tmp_path / "ws"), env=env)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "ws" / "snapshots").exists()


def test_bad_config_field_is_named(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[curate.filters.gopher_quality]\nmin_wrods = 3\n")
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    proc = _lmforge("curate", str(tmp_path / "in.jsonl"), "--workspace", str(tmp_path / "ws"), "--config", str(cfg))
    assert proc.returncode == 2
    assert "min_wrods" in proc.stderr and "Traceback" not in proc.stderr
