"""`prefect.yaml` and `flows/deploy.py` declare the same deployments, and every entrypoint loads as a Prefect flow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from lmforge.flows.deploy import DEPLOYMENTS, REPO_ROOT


def _prefect_yaml() -> dict:
    return yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())


def test_prefect_yaml_matches_the_python_deployments():
    declared = {d["name"]: d for d in _prefect_yaml()["deployments"]}
    assert set(declared) == {spec.name for spec in DEPLOYMENTS}
    for spec in DEPLOYMENTS:
        d = declared[spec.name]
        assert d["entrypoint"] == spec.entrypoint
        assert d["work_pool"]["name"] == "lmforge"
        crons = [s["cron"] for s in d.get("schedules") or []]
        assert crons == ([spec.cron] if spec.cron else [])
        assert set(d["parameters"]) <= set(spec.parameters)


def test_entrypoints_load_as_flows_with_the_declared_parameters():
    for spec in DEPLOYMENTS:
        flow = load_flow_from_entrypoint(str(REPO_ROOT / spec.entrypoint))
        accepted = set(flow.parameters.properties)
        assert set(spec.parameters) <= accepted, (spec.name, accepted)


def test_pull_step_sets_the_working_directory():
    (step,) = _prefect_yaml()["pull"]
    assert "prefect.deployments.steps.set_working_directory" in step


# --- `lmforge deploy` / `lmforge worker` as a user runs them --------------------------------------------------------

_CLIENT_ENV_DROP = ("PREFECT_", "MLFLOW_", "LMFORGE_")
_UNREACHABLE = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}


def _lmforge(*args: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_CLIENT_ENV_DROP)}
    return subprocess.run(
        [sys.executable, "-m", "lmforge.flows", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**inherited, "PREFECT_HOME": str(cwd / ".prefect-client"), **env},
        timeout=300,
    )


@pytest.fixture(scope="module")
def prefect_server(postgres_dsn, tmp_path_factory) -> dict[str, str]:
    """A real Prefect server on a throwaway PostgreSQL database, loopback only; yields a client's environment."""
    from tests.support.servers import HOST, databases, free_port, process, wait_http, with_db

    tmp = tmp_path_factory.mktemp("prefect-server")
    port, log = free_port(), tmp / "server.log"
    base = {k: v for k, v in os.environ.items() if not k.startswith(_CLIENT_ENV_DROP)}
    with databases(postgres_dsn, 1) as (db,):
        server_env = base | {
            "PREFECT_HOME": str(tmp / "home"),
            "PREFECT_API_DATABASE_CONNECTION_URL": with_db(postgres_dsn, db, "postgresql+asyncpg"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        argv = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
        with process(argv, server_env, log) as proc:
            wait_http(f"http://{HOST}:{port}/api/health", proc, log)
            yield {"PREFECT_API_URL": f"http://{HOST}:{port}/api"}


def _deployments(server: dict[str, str]) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        return {d.name: d for d in client.read_deployments()}


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input-root", "raws"], "raws: input root is not a folder"),
        (["--config", "missing.toml"], "missing.toml: config file not found"),
        (["--config", "bad.toml"], "min_wrods"),
        (["--index", "bogus://x"], "--index: 'bogus://x' is neither empty"),
        (["--index", "redis://127.0.0.1:9/0"], "dedup index redis://127.0.0.1:9/0 is unreachable"),
    ],
)
def test_deploy_refuses_what_would_fail_every_scheduled_run(prefect_server, tmp_path, extra, message):
    """A typo in `lmforge deploy` was registered silently (exit 0) and only failed at 02:00, in the worker's log."""
    (tmp_path / "raw" / "date=2026-01-01").mkdir(parents=True)
    (tmp_path / "bad.toml").write_text("[curate.filters.gopher_quality]\nmin_wrods = 3\n")
    pool = f"lmforge-refused-{tmp_path.name[-12:]}"
    args = ["deploy", "--workspace", "ws", "--input-root", "raw", "--pool", pool, *extra]
    proc = _lmforge(*args, cwd=tmp_path, env=prefect_server)
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not [d for d in _deployments(prefect_server).values() if d.work_pool_name == pool]


@pytest.mark.postgres
@pytest.mark.slow
def test_deploy_twice_from_a_relative_folder_updates_in_place(prefect_server, tmp_path):
    """Relative paths are stored absolute (the worker runs elsewhere); a second deploy updates the same deployments
    (parameters, schedules); the output has lmforge's own next step, not Prefect's advice to call `.serve`."""
    (tmp_path / "raw" / "date=2026-01-01").mkdir(parents=True)
    (tmp_path / "tiny.toml").write_text((REPO_ROOT / "configs" / "tiny-run.toml").read_text())
    first = _lmforge(
        "deploy", "--workspace", "ws", "--input-root", "raw", "--config", "tiny.toml", cwd=tmp_path, env=prefect_server
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert ".serve" not in first.stdout and "lmforge worker --pool lmforge" in first.stdout
    before = _deployments(prefect_server)
    assert before["curate-daily"].parameters == {
        "workspace": str(tmp_path / "ws"),
        "input_root": str(tmp_path / "raw"),
        "config_path": str(tmp_path / "tiny.toml"),
    }
    assert [s.schedule.cron for s in before["train-weekly"].schedules] == ["0 4 * * 0"]
    again = _lmforge(
        "deploy", "--workspace", "ws", "--input-root", "raw", "--no-schedule", cwd=tmp_path, env=prefect_server
    )
    assert again.returncode == 0, again.stderr[-2000:]
    after = _deployments(prefect_server)
    assert {n: d.id for n, d in after.items()} == {n: d.id for n, d in before.items()}
    assert after["curate-daily"].parameters == {"workspace": str(tmp_path / "ws"), "input_root": str(tmp_path / "raw")}
    assert not after["train-weekly"].schedules and not after["curate-daily"].schedules


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_worker_rejects_a_limit_below_one(tmp_path, limit):
    """`--limit 0` ran without any limit, `--limit -3` died in a Prefect traceback after starting."""
    proc = _lmforge("worker", "--limit", limit, "--run-once", cwd=tmp_path, env=_UNREACHABLE)
    assert proc.returncode == 2, proc.stderr
    assert "Invalid value for '--limit'" in proc.stderr


@pytest.mark.parametrize("value", [None, "relative/ws"])
def test_prefect_yaml_without_absolute_paths_fails_the_run_not_the_repository(monkeypatch, value):
    """`prefect deploy --all` with LMFORGE_WORKSPACE unset registered workspace '' (Prefect drops an unset variable
    to an empty string): the `run` deployment then wrote a whole workspace into the checkout, which the worker's
    pull step makes the working directory. A relative path lands there too."""
    from prefect.utilities.templating import apply_values

    from lmforge.flows.deploy import curate_latest_flow, train_latest_flow
    from lmforge.flows.run import run_flow
    from lmforge.pipeline.errors import ConfigError

    for var in ("LMFORGE_WORKSPACE", "LMFORGE_INPUT_ROOT"):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    # what a worker's flow run of a deployment sees (Prefect's documented way to mock a runtime value)
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", "6e639c73-0ff3-4340-898b-5220c0a601d1")
    flows = {"curate-daily": curate_latest_flow, "train-weekly": train_latest_flow, "run": run_flow}
    for d in _prefect_yaml()["deployments"]:
        params = apply_values(d["parameters"], os.environ, warn_on_notset=False)
        with pytest.raises(ConfigError, match="workspace: .*absolute path"):
            flows[d["name"]].fn(**params)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ({"inputs": ["data/web"]}, "inputs: 'data/web'"),
        ({"inputs": ["/data/a.jsonl", "news=data/news.jsonl"]}, "inputs: 'data/news.jsonl'"),
        ({"config_path": "configs/tiny-run.toml"}, "config_path: 'configs/tiny-run.toml'"),
    ],
)
def test_a_deployed_run_given_relative_inputs_or_config_fails_before_reading_the_checkout(monkeypatch, given, name):
    """The `run` deployment takes its inputs and config at trigger time; a relative one was read from the worker's
    working folder, the checkout (`configs/tiny-run.toml`, `tests/data/…` are there), not from the caller's."""
    from lmforge.flows.run import run_flow
    from lmforge.pipeline.errors import ConfigError

    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", "6e639c73-0ff3-4340-898b-5220c0a601d1")
    with pytest.raises(ConfigError, match=rf"{name} is not an absolute path"):
        run_flow.fn(workspace="/nonexistent/ws", **given)
    assert not Path("/nonexistent/ws").exists()


@pytest.mark.postgres
@pytest.mark.slow
def test_worker_refuses_a_pool_the_server_does_not_have(prefect_server, tmp_path):
    """`lmforge worker --pool lmfrge` made Prefect create that pool and poll it forever: no deployment ever ran."""
    proc = _lmforge("worker", "--pool", "lmfrge", "--run-once", cwd=tmp_path, env=prefect_server)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--pool: no work pool 'lmfrge'" in proc.stderr and "Traceback" not in proc.stderr
    assert "lmfrge" not in _pool_names(prefect_server)
    # a pool of another type: a process worker polled it and ran nothing
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}), get_client(sync_client=True) as c:
        c.create_work_pool(WorkPoolCreate(name="gpu-docker", type="docker"))
    proc = _lmforge("worker", "--pool", "gpu-docker", "--run-once", cwd=tmp_path, env=prefect_server)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--pool: work pool 'gpu-docker' is a 'docker' pool, not a process one" in proc.stderr


def _pool_names(server: dict[str, str]) -> list[str]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from lmforge.flows.deploy import pool_names

    with temporary_settings({PREFECT_API_URL: server["PREFECT_API_URL"]}):
        return pool_names()
