"""The infra/ templates cannot run here (no Docker, Slurm or Kubernetes): check they parse and agree with the CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_compose_has_the_services_and_wires_them_together():
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "prefect-server", "mlflow", "minio", "redis", "worker"} <= set(services)
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    mlflow_cmd = " ".join(services["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg2://" in mlflow_cmd and "--artifacts-destination=s3://" in mlflow_cmd
    worker = services["worker"]
    assert worker["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    for name, service in services.items():  # every dependency is a service of this file
        assert set(service.get("depends_on", {})) <= set(services), name
    for build in (s["build"] for s in services.values() if "build" in s):
        assert (INFRA / build["context"] / build["dockerfile"]).is_file()
    assert "CREATE DATABASE prefect" in (INFRA / "postgres" / "init.sql").read_text()


def test_kubernetes_job_is_indexed_with_a_headless_service():
    service, job = yaml.safe_load_all((INFRA / "k8s" / "train-job.yaml").read_text())
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["NNODES"]) == spec["completions"]
    assert int(env["NPROC"]) == container["resources"]["limits"]["nvidia.com/gpu"]
    args = container["args"][0]
    for option in ("--nproc", "--nnodes", '--node-rank "$JOB_COMPLETION_INDEX"', "--rdzv-endpoint"):
        assert option in args


def test_slurm_template_is_valid_bash_and_uses_the_train_options():
    script = INFRA / "slurm" / "train.sbatch"
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for option in ("--nnodes", "--node-rank", "--rdzv-endpoint", "--nproc", "--shards", "--config"):
        assert option in text


@pytest.mark.parametrize("option", ["--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint"])
def test_train_command_has_the_options_the_templates_use(option):
    from lmforge.flows.commands.train import command

    assert option in {o for p in command.params for o in p.opts}
