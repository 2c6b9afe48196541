"""The console script: help lists every stage; user mistakes print one line and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmforge.flows.cli import main

#: What an in-process `main()` sets for its workspace (env.configure); a subprocess must pick its own from --workspace.
_WORKSPACE_ENV = ("PREFECT_HOME", "MLFLOW_TRACKING_URI", "LMFORGE_WORKSPACE")


def _lmforge(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k not in _WORKSPACE_ENV}
    return subprocess.run(
        [sys.executable, "-m", "lmforge.flows", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**inherited, **(env or {})},
        timeout=300,
    )


def test_help_lists_every_stage(capsys, monkeypatch):
    monkeypatch.setattr(os, "environ", os.environ.copy())  # main() sets the workspace's env defaults
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("run", "curate", "dedup", "corpus", "pii", "tokenizer", "shards", "train", "evaluate", "generate"):
        assert f"  {cmd}" in out, cmd


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["curate", "does-not-exist.jsonl"], "does-not-exist.jsonl: input path does not exist"),
        (["run", "--stages", "curate,bogus"], "unknown stage(s) ['bogus']"),
        (["run", "--stages", "curate,,bogus,"], "unknown stage(s) ['bogus']"),
        (["run", "--corpus-mb", "-1"], "Invalid value for '--corpus-mb'"),
        (["curate", "in.jsonl", "--workers", "-1"], "Invalid value for '--workers'"),
        (["curate", "in.jsonl", "--index", "bogus://x"], "--index: 'bogus://x' is neither empty"),
        (
            ["curate", "in.jsonl", "--index", "redis://127.0.0.1:9/0"],
            "dedup index redis://127.0.0.1:9/0 is unreachable",
        ),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    proc = _lmforge(*args, "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ws" / "snapshots").exists()  # before any work


def test_dedup_index_of_the_config_is_used(tmp_path):
    """`[dedup] index` is the index unless --index is given: an unreachable one is an error before any work."""
    cfg = tmp_path / "redis.toml"
    cfg.write_text('[dedup]\nindex = "redis://127.0.0.1:9/0"\n')
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    proc = _lmforge("curate", "in.jsonl", "--workspace", str(tmp_path / "ws"), "--config", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "dedup index redis://127.0.0.1:9/0 is unreachable" in proc.stderr and "dedup.index" in proc.stderr
    assert not (tmp_path / "ws" / "snapshots").exists()


def test_an_error_inside_a_flow_is_one_line_without_its_traceback(tmp_path):
    """Prefect logs a failed flow run's exception; for a user mistake the CLI shows it without the traceback."""
    (tmp_path / "good.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    (tmp_path / "empty.jsonl").write_text("")
    proc = _lmforge(
        "curate", "good.jsonl", "empty.jsonl", "--strict", "--workspace", str(tmp_path / "ws"), cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert "lmforge: error: empty.jsonl: bad input (strict mode)" in proc.stderr
    assert "lmforge.pipeline.errors.InputError" not in proc.stderr  # the last line of a traceback of it


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


def test_the_embedded_prefect_server_sends_no_telemetry(tmp_path, monkeypatch):
    """Offline, Prefect's telemetry logged "Failed to send telemetry" on every command; a user's own server (or an
    explicit setting) is left alone."""
    from lmforge.flows import env

    monkeypatch.setattr(os, "environ", os.environ.copy())  # configure() sets other defaults too
    switches = ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY")
    for var in ("PREFECT_API_URL", "PREFECT_HOME", *switches):
        monkeypatch.delenv(var, raising=False)
    env.configure(tmp_path / "ws")
    assert [os.environ[v] for v in switches] == ["false", "1", "true"]
    for var in switches:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    env.configure(tmp_path / "ws")
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true" and "DO_NOT_TRACK" not in os.environ
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "false"
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    env.configure(tmp_path / "ws")
    assert "PREFECT_SERVER_ANALYTICS_ENABLED" not in os.environ and "DO_NOT_TRACK" not in os.environ


def test_no_telemetry_notice_on_a_terminal(tmp_path):
    """Prefect's client printed "Prefect collects anonymous usage data" on a terminal's first run, although the
    embedded server lmforge starts has analytics off. Run a fresh process on a pseudo-terminal, as a user would."""
    import pty
    import subprocess
    import sys

    from prefect._internal.analytics.ci_detection import CI_ENV_VARS

    ws = str(tmp_path / "ws")
    code = f"from lmforge.flows import env; env.configure({ws!r}); import prefect; print('imported')"
    child_env = {k: v for k, v in os.environ.items() if k not in CI_ENV_VARS and not k.startswith(("PREFECT_", "DO_"))}
    parent, child = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-c", code], stdin=child, stdout=child, stderr=child, env=child_env, timeout=120
    )
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the pty is closed once the child's output is read
            break
        if not chunk:
            break
        out += chunk
    os.close(parent)
    assert proc.returncode == 0 and b"imported" in out
    assert b"anonymous usage data" not in out


def test_a_worker_leaves_each_flow_run_its_own_workspace(tmp_path, monkeypatch):
    """`lmforge worker` started from any folder must not hand its own default workspace's MLflow store to the flow
    runs it starts: a deployment made with `--workspace W` tracks and registers into W's store."""
    from lmforge.flows import env

    monkeypatch.setattr(os, "environ", os.environ.copy())
    for var in ("MLFLOW_TRACKING_URI", "LMFORGE_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    env.configure(tmp_path / "here")
    assert os.environ["MLFLOW_TRACKING_URI"].endswith("here/mlflow.db")  # the worker process itself
    flow_env = env.worker_environment()
    assert "MLFLOW_TRACKING_URI" not in flow_env and "LMFORGE_WORKSPACE" not in flow_env
    assert flow_env["MLFLOW_DISABLE_TELEMETRY"] == "true"  # the other defaults carry on
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")  # the user's own server: kept
    env.configure(tmp_path / "here")
    assert env.worker_environment()["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"


def test_a_file_named_twice_is_warned_about_once(tmp_path):
    """`curate a.jsonl ./a.jsonl` says "named more than once" once, not once per time the inputs are planned."""
    (tmp_path / "a.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    proc = _lmforge("curate", "a.jsonl", "./a.jsonl", "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("named more than once") == 1, proc.stderr


def test_dedup_deduplicates_even_when_the_config_turns_dedup_off(tmp_path):
    """`lmforge dedup --config run.toml` with the run's `[dedup] enabled = false`: the command exists to remove
    duplicates, so it must not keep them all and report success."""
    cfg = tmp_path / "run.toml"
    cfg.write_text("[dedup]\nenabled = false\n")
    text = "The same short note, copied twice into the corpus by a crawler that followed two links to it."
    (tmp_path / "in.jsonl").write_text("".join(f'{{"id": "{i}", "text": "{text}"}}\n' for i in ("a", "b")))
    proc = _lmforge("dedup", "in.jsonl", "--config", str(cfg), "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "documents in 2, kept 1, rejected 1" in proc.stdout and "exact_duplicate: 1" in proc.stdout


@pytest.mark.parametrize("blocked", ["ws/.prefect", "parent"])
def test_a_workspace_that_cannot_be_written_is_one_line_not_minutes_of_retries(tmp_path, blocked):
    """Prefect's embedded server kept retrying its SQLite database in a read-only workspace until its startup
    timeout, then failed with a traceback. A file in the way stands for a read-only folder (tests run as root)."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "A short document of plain words."}\n', encoding="utf-8")
    ws = tmp_path / "parent" / "ws" if blocked == "parent" else tmp_path / "ws"
    (tmp_path / blocked).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / blocked).write_text("not a folder", encoding="utf-8")
    done = _lmforge("curate", str(src), "--workspace", str(ws))
    where = ws if blocked == "parent" else tmp_path / blocked
    assert done.returncode == 2 and f"cannot write to {where}" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_exits_130_and_says_how_to_go_on(capsys, monkeypatch):
    """Ctrl-C printed only 'aborted': it now says that finished work is kept and how training goes on."""
    import click

    from lmforge.flows import cli as cli_module

    def interrupted() -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of any command

    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.setattr(cli_module.cli, "commands", dict(cli_module.cli.commands))  # the extra command goes after
    cli_module.cli.add_command(click.Command("interrupted", callback=interrupted))
    code = main(["interrupted"])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip() == (
        "lmforge: aborted; finished work is kept and the same command goes on from it (`lmforge train` with --resume)"
    )
