"""Scheduled work: the flows a Prefect worker runs, and the deployments that schedule them on a process pool.

- `curate-daily` (02:00 every day): curate the newest date partition of the input root; the persistent dedup
  index removes documents already seen on earlier days.
- `train-weekly` (04:00 every Sunday): curate the last `days` partitions into one snapshot, then tokenizer →
  shards → train → evaluate → register.
- `run` (no schedule): the whole `lmforge-run` flow on demand, with parameters given at trigger time.

`prefect.yaml` at the repository root declares the same deployments for `prefect deploy --all`;
a test keeps the two in step. Entrypoints are files of this repository, pulled by `set_working_directory`, so the
worker must see the same checkout (and the installed `lmforge` package) at the same path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from lmforge.flows.run import STAGES, require_absolute, run_flow
from lmforge.pipeline.partitions import latest_partitions

#: The repository root: deployments point their entrypoints here.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POOL = "lmforge"


@flow(name="curate-latest", flow_run_name="curate-latest-{workspace}")
def curate_latest_flow(
    workspace: str, input_root: str, config_path: str | None = None, index: str | None = None
) -> dict[str, Any]:
    """Curate the newest date partition (a subflow run of `lmforge-run`) and mark it done for `lmforge backfill`."""
    from lmforge.flows.backfill import record_partition

    require_absolute("workspace", workspace)
    require_absolute("input_root", input_root)
    part = latest_partitions(input_root, 1)[0]
    get_run_logger().info("curating partition %s", part.name)
    result = run_flow(
        workspace=workspace, inputs=[str(part.path)], config_path=config_path, index=index, stages=["curate"]
    )
    record_partition(workspace, part.day, ["curate"], result, _flow_run_id())
    return result


@flow(name="train-latest", flow_run_name="train-latest-{workspace}")
def train_latest_flow(
    workspace: str,
    input_root: str,
    config_path: str | None = None,
    index: str | None = None,
    days: int = 7,
    nproc: int | None = None,
) -> dict[str, Any]:
    """Train and register a model on the newest `days` partitions, curated together into one snapshot."""
    require_absolute("workspace", workspace)
    require_absolute("input_root", input_root)
    parts = latest_partitions(input_root, days)
    get_run_logger().info("training on %d partition(s): %s … %s", len(parts), parts[0].name, parts[-1].name)
    return run_flow(
        workspace=workspace,
        inputs=[str(p.path) for p in parts],
        config_path=config_path,
        index=index,
        nproc=nproc,
        stages=list(STAGES),
    )


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One deployment: which flow file/function, when, and which parameters it needs."""

    name: str
    entrypoint: str
    cron: str | None
    description: str
    parameters: tuple[str, ...] = field(default=("workspace", "input_root", "config_path", "index"))


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "curate-daily",
        "flows/deploy.py:curate_latest_flow",
        "0 2 * * *",
        "Curate the newest date partition every day at 02:00.",
    ),
    DeploymentSpec(
        "train-weekly",
        "flows/deploy.py:train_latest_flow",
        "0 4 * * 0",
        "Every Sunday at 04:00: curate the last 7 partitions together, train, evaluate, register.",
    ),
    DeploymentSpec(
        "run",
        "flows/run.py:run_flow",
        None,
        "The whole chain on demand (parameters at trigger time).",
        parameters=("workspace", "config_path", "index"),
    ),
)


def ensure_pool(name: str) -> bool:
    """Create the process work pool if it is missing; True when it was created. A pool of that name of another type
    is a ConfigError: `lmforge worker` (a process worker) would never run what is deployed there, and a docker or
    kubernetes worker would run it without the checkout and the installed package the entrypoints need."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    from lmforge.pipeline.errors import ConfigError

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
            if pool.type != "process":
                raise ConfigError(
                    f"--pool: work pool {name!r} is a {pool.type!r} pool, not a process one; lmforge's deployments "
                    "run on a process pool: give another name (`lmforge deploy` creates it)"
                )
            return False
        except ObjectNotFound:
            from prefect.workers.process import ProcessWorker

            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=name, type="process", base_job_template=template))
            return True


def pool_names() -> list[str]:
    """Names of the work pools on the configured Prefect server."""
    return sorted(pool_types())


def pool_types() -> dict[str, str]:
    """Work pool name → type (`process`, `docker`, …) on the configured Prefect server."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {pool.name: pool.type for pool in client.read_work_pools()}


def deploy_all(
    workspace: str,
    input_root: str | None,
    config_path: str | None,
    pool: str = DEFAULT_POOL,
    schedule: bool = True,
    only: list[str] | None = None,
    index: str | None = None,
) -> list[tuple[str, str]]:
    """Register the deployments (creating or updating them); returns (full name, deployment id) pairs."""
    from prefect.schedules import Cron

    from lmforge.pipeline.errors import ConfigError

    # every path resolved here, where it was given: a deployed run starts in the worker's checkout (require_absolute)
    values = {
        "workspace": str(Path(workspace).resolve()),
        "config_path": str(Path(config_path).resolve()) if config_path else None,
        "input_root": str(Path(input_root).resolve()) if input_root else None,
        "index": index,
    }
    names = {d.name for d in DEPLOYMENTS}
    if only is not None and not only:  # an empty selection (a filter that left nothing) is not "all of them"
        raise ConfigError(f"--only: no deployment given; choose from {sorted(names)}, or leave it out for all")
    unknown = sorted(set(only or ()) - names)
    if unknown:
        raise ConfigError(f"--only: unknown deployment(s) {unknown}; choose from {sorted(names)}")
    out = []
    for spec in DEPLOYMENTS:
        if only and spec.name not in only:
            continue
        params = {k: values[k] for k in spec.parameters if values[k] is not None}
        if "input_root" in spec.parameters and "input_root" not in params:
            raise ConfigError(f"deployment {spec.name} needs --input-root (a folder of date=YYYY-MM-DD/ partitions)")
        loaded = flow.from_source(source=str(REPO_ROOT), entrypoint=spec.entrypoint)
        schedules = [Cron(spec.cron, timezone="UTC")] if spec.cron and schedule else []
        dep_id = loaded.deploy(
            name=spec.name,
            work_pool_name=pool,
            schedules=schedules,
            parameters=params,
            description=spec.description,
            tags=["lmforge"],
            print_next_steps=False,
            ignore_warnings=True,  # Prefect's advice to `.serve` a flow on a process pool; `lmforge worker` runs them
            build=False,
            push=False,
        )
        out.append((f"{loaded.name}/{spec.name}", str(dep_id)))
    return out
