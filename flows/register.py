"""The `register` flow: package a finished run as an MLflow model version with its lineage, then the promotion gate.

Two tasks, so the Prefect UI shows where time goes and which step failed; they pass paths, ids and numbers only.
The version is created only after everything it needs is logged, and an alias moves only after that.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from lmforge.pipeline.config import load_config
from lmforge.pipeline.configuring import from_dict, to_dict
from lmforge.pipeline.errors import LmforgeError
from lmforge.pipeline.registry import gate
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import aliases_of, register, run_shards_id, use_tracking
from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept


def flow_run_info() -> dict[str, str | None]:
    """The Prefect flow run this registration happens in (and its parent, when called from `lmforge run`)."""
    url = flow_run.get_flow_run_ui_url()
    return {
        "flow_run_id": flow_run.get_id(),
        # The embedded (ephemeral) API has no UI, and Prefect then builds the URL on "None"; record none instead.
        "flow_run_url": url if url and not url.startswith("None") else None,
        "flow_run_name": flow_run.get_name(),
        "parent_flow_run_id": flow_run.get_parent_flow_run_id(),
    }


@task(name="register-model", task_run_name="register-{run_dir.name}")
def register_task(
    workspace: Path, run_dir: Path, config: dict[str, Any], info: dict[str, str | None]
) -> dict[str, Any]:
    registered = register(workspace, run_dir, from_dict(RegistryConfig, config, "registry"), info)
    get_run_logger().info(
        "registered %s v%s (MLflow run %s) as @candidate; val bpb %.4f",
        registered.name,
        registered.version,
        registered.run_id,
        registered.metrics["val_bpb"],
    )
    return {
        "model_name": registered.name,
        "version": registered.version,
        "mlflow_run_id": registered.run_id,
        "model_uri": registered.model_uri,
        "metrics": registered.metrics,
        "shards_id": registered.lineage.shards.id,
    }


@task(name="promotion-gate", task_run_name="gate-v{version}")
def gate_task(workspace: Path, name: str, version: str, config: dict[str, Any]) -> dict[str, Any]:
    """The gate's verdict, and (under "aliases") the version's aliases after it. MLflow points at the workspace's
    store for the task only: a flow called in-process (a notebook, a test) left its caller pointed there."""
    with mlflow_uris_kept():
        use_tracking(workspace)
        # judged again when @champion moved while it judged (another registration's gate), so the verdict is the last
        result = gate.judge_and_apply(workspace, name, version, from_dict(RegistryConfig, config, "registry"))
        aliases = aliases_of(name, version)
    get_run_logger().info("%s", result.line())
    return asdict(result) | {"aliases": aliases}


@flow(name="register", flow_run_name="register-{run_dir}", log_prints=False)
def register_flow(
    workspace: str,
    run_dir: str,
    shards_id: str | None = None,
    config_path: str | None = None,
    overrides: dict | None = None,
) -> dict[str, Any]:
    """Register the newest checkpoint of `run_dir` (trained on `shards_id`, checked when given) and run the gate.

    Returns {model_name, version, mlflow_run_id, model_uri, metrics, shards_id, gate: {...}, aliases}.
    """
    config = load_config(config_path, overrides).registry
    ws, run = Path(workspace), Path(run_dir)
    trained_on = run_shards_id(run)
    if shards_id and not (trained_on == shards_id or Path(shards_id).name == trained_on):
        raise LmforgeError(f"{run_dir}: trained on shards {trained_on}, not {shards_id}; nothing was registered")
    result = register_task(ws, run, to_dict(config), flow_run_info())
    result["gate"] = gate_task(ws, result["model_name"], result["version"], to_dict(config))
    result["aliases"] = result["gate"].pop("aliases")
    return result
