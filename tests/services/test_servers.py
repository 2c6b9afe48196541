"""lmforge beyond one process: a real Prefect server and a real MLflow server, both on PostgreSQL, `lmforge deploy`,
a real process worker that runs a triggered deployment end to end, and the model checked through MLflow's server.

Needs PostgreSQL on 127.0.0.1:5432 (skipped otherwise). Everything listens on loopback only; every server and
worker started here is stopped (process groups), and the throwaway databases are dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import HOST, databases, free_port, process, tail, wait_http, with_db
from tests.support.snapshots import stdlib_docs

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCREENSHOTS = REPO / "docs" / "screenshots"
MODEL = "lmforge-service-test"

TOML = f"""
[tokenizer]
vocab_size = 512
min_sample_chars = 2000
num_threads = 1

[train]
max_steps = 20

[train.model.gpt]
n_layer = 1
n_head = 2
n_embd = 32
block_size = 32

[train.data]
batch_size = 4
seq_len = 32

[train.checkpoint]
every = 10

[train.tracking]
log_every = 5
eval_every = 0
eval_batches = 1
system_metrics = false
sample_tokens = 4

[registry]
model_name = "{MODEL}"
eval_seq_len = 32
eval_max_batches = 2
"""


@dataclass(frozen=True)
class Stack:
    prefect_url: str
    """http://127.0.0.1:PORT (the API is under /api)."""
    mlflow_url: str
    env: dict[str, str]
    """Environment of a client or worker machine pointed at both servers."""
    logs: Path


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "LMFORGE_"))}
    return env | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@pytest.fixture(scope="module")
def stack(postgres_dsn, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("services")
    logs = tmp / "logs"
    logs.mkdir()
    pport, mport = free_port(), free_port()
    with databases(postgres_dsn, 2) as (prefect_db, mlflow_db), contextlib.ExitStack() as procs:
        server_env = _base_env() | {
            "PREFECT_HOME": str(tmp / "prefect-server"),
            "PREFECT_API_DATABASE_CONNECTION_URL": with_db(postgres_dsn, prefect_db, "postgresql+asyncpg"),
            "PREFECT_UI_API_URL": f"http://{HOST}:{pport}/api",
        }
        prefect = procs.enter_context(
            process(
                [str(BIN / "prefect"), "server", "start", "--host", HOST, "--port", str(pport)],
                server_env,
                logs / "prefect-server.log",
            )
        )
        mlflow = procs.enter_context(
            process(
                [
                    str(BIN / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    with_db(postgres_dsn, mlflow_db, "postgresql+psycopg2"),
                    "--artifacts-destination",
                    str(tmp / "mlartifacts"),
                    "--host",
                    HOST,
                    "--port",
                    str(mport),
                    "--workers",
                    "1",
                ],
                _base_env(),
                logs / "mlflow-server.log",
            )
        )
        wait_http(f"http://{HOST}:{pport}/api/health", prefect, logs / "prefect-server.log")
        wait_http(f"http://{HOST}:{mport}/health", mlflow, logs / "mlflow-server.log")
        client_env = _base_env() | {
            "PREFECT_API_URL": f"http://{HOST}:{pport}/api",
            "PREFECT_HOME": str(tmp / "prefect-client"),
            "MLFLOW_TRACKING_URI": f"http://{HOST}:{mport}",
        }
        yield Stack(f"http://{HOST}:{pport}", f"http://{HOST}:{mport}", client_env, logs)


def _partition(root: Path, day: str, docs: list[dict]) -> None:
    path = root / f"date={day}" / "docs.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"id": d["doc_id"], "text": d["text"]}) + "\n" for d in docs))


def _wait_final(client, flow_run_id, timeout: float, worker_log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(flow_run_id)
        if run.state and run.state.is_final():
            return run
        time.sleep(2)
    raise TimeoutError(f"flow run {flow_run_id} not finished after {timeout:.0f} s; worker log:\n{tail(worker_log)}")


def test_deploy_then_worker_runs_the_deployment_and_registers_a_model(stack, tmp_path):
    from mlflow import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    docs = stdlib_docs(max_chars=60_000)
    root, ws, config = tmp_path / "raw", tmp_path / "ws", tmp_path / "tiny.toml"
    _partition(root, "2026-01-01", docs[: len(docs) // 2])
    _partition(root, "2026-01-02", docs[len(docs) // 2 :])
    config.write_text(TOML)
    pool = f"lmforge-test-{uuid.uuid4().hex[:6]}"

    deploy = subprocess.run(
        [
            str(BIN / "lmforge"),
            "deploy",
            "--workspace",
            str(ws),
            "--input-root",
            str(root),
            "--config",
            str(config),
            "--pool",
            pool,
            "--no-schedule",
        ],
        env=stack.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert deploy.returncode == 0, deploy.stderr[-3000:]
    assert f"created process work pool {pool!r}" in deploy.stdout
    for name in ("curate-latest/curate-daily", "train-latest/train-weekly", "lmforge-run/run"):
        assert f"deployed {name}" in deploy.stdout

    with temporary_settings({PREFECT_API_URL: stack.env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        assert client.read_work_pool(pool).type == "process"
        deployment = client.read_deployment_by_name("train-latest/train-weekly")
        assert deployment.work_pool_name == pool and not deployment.schedules
        assert deployment.parameters["input_root"] == str(root.resolve())
        assert deployment.entrypoint == "flows/deploy.py:train_latest_flow"

        worker_log = stack.logs / "worker.log"
        with process([str(BIN / "lmforge"), "worker", "--pool", pool], stack.env, worker_log):
            # the newest 2 days, curated together, then tokenizer → shards → train → evaluate → register
            flow_run = run_deployment("train-latest/train-weekly", parameters={"days": 2}, timeout=0)
            final = _wait_final(client, flow_run.id, 420, worker_log)
        assert final.state.is_completed(), f"{final.state}\n{tail(worker_log, 80)}"
        result_runs = client.read_flow_runs()
        run_ids = {str(r.id) for r in result_runs}
        names = {r.name for r in result_runs if r.parent_task_run_id is not None and r.state.is_completed()}
        assert any(n.startswith("curate-") for n in names) and any(n.startswith("register-") for n in names)

    # the model version, through the MLflow server (PostgreSQL store, proxied artifacts)
    # registry_uri too: an earlier test in this process may have set a global registry URI
    mlflow = MlflowClient(tracking_uri=stack.mlflow_url, registry_uri=stack.mlflow_url)
    versions = mlflow.search_model_versions(f"name='{MODEL}'")
    assert len(versions) == 1
    version = versions[0]
    snapshots = [p.name for p in (ws / "snapshots").iterdir() if (p / "manifest.json").is_file()]
    assert len(snapshots) == 1 and snapshots[0] in json.dumps(version.tags)
    # lineage back to Prefect: the ids recorded in MLflow are flow runs of this deployment run on this server
    tags = {**mlflow.get_run(version.run_id).data.tags, **version.tags}
    recorded = {v for k, v in tags.items() if "prefect" in k and k.endswith("flow_run_id")}
    assert recorded and recorded <= run_ids
    _screenshots(stack, final.id, version.version)


def test_deploy_and_worker_need_a_reachable_server(tmp_path):
    env = _base_env() | {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_HOME": str(tmp_path / "home")}
    for args in (["deploy", "--workspace", str(tmp_path / "ws"), "--input-root", str(tmp_path)], ["worker"]):
        r = subprocess.run([str(BIN / "lmforge"), *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "Prefect API at http://127.0.0.1:9/api is unreachable" in r.stderr
        assert "Traceback" not in r.stderr


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshots(stack: Stack, flow_run_id, version: str) -> None:
    """PNGs of the Prefect flow-run page and the MLflow model-version page for the README (when Chromium exists)."""
    browser = _chromium()
    if browser is None:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {
        "prefect-flow-run.png": f"{stack.prefect_url}/runs/flow-run/{flow_run_id}",
        "mlflow-model-version.png": f"{stack.mlflow_url}/#/models/{MODEL}/versions/{version}",
    }
    for name, url in pages.items():
        out = SCREENSHOTS / name
        profile = stack.logs / f"chromium-{name}"
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--window-size=1400,900",
                "--virtual-time-budget=15000",
                f"--screenshot={out}",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert out.is_file() and out.stat().st_size > 10_000, f"no screenshot of {url}"
