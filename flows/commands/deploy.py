"""`lmforge deploy` (register the scheduled deployments) and `lmforge worker` (run them)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lmforge.flows.commands.common import ensure_workspace, warn, workspace_option


@click.command("deploy")
@workspace_option
@click.option(
    "--input-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of date=YYYY-MM-DD/ partitions (needed by curate-daily and train-weekly).",
)
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML, YAML or JSON config the runs use."
)
@click.option(
    "--index",
    default=None,
    help="Dedup index for the runs: default <workspace>/dedup-index, or "
    "redis://HOST:PORT/DB (shared by workers on several machines).",
)
@click.option("--pool", default="lmforge", show_default=True, help="Process work pool (created if missing).")
@click.option("--no-schedule", is_flag=True, help="Register without schedules (runs only when triggered).")
@click.option("--only", default=None, help="Comma-separated subset of: curate-daily,train-weekly,run.")
def deploy_command(workspace, input_root, config, index, pool, no_schedule, only) -> None:
    """Register lmforge's deployments on a Prefect server (PREFECT_API_URL); start a worker with `lmforge worker`."""
    from lmforge.flows.api import check_api, check_index
    from lmforge.flows.deploy import DEPLOYMENTS
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.errors import ConfigError
    from lmforge.pipeline.partitions import list_partitions

    names = None
    if only is not None:
        names = [s.strip() for s in only.split(",") if s.strip()]
        known = [d.name for d in DEPLOYMENTS]
        unknown = sorted(set(names) - set(known))
        if not names or unknown:
            raise ConfigError(f"--only: unknown deployment(s) {unknown or [only]}; choose from {known}")
    needing = [d.name for d in DEPLOYMENTS if "input_root" in d.parameters and (names is None or d.name in names)]
    if input_root and not needing:
        warn(f"--input-root is for the scheduled deployments: ignored, since --only selects only {names}")
    if not input_root and needing:  # said before the work pool is made on the server, not after
        raise ConfigError(
            f"--input-root: deployment(s) {needing} need it (a folder of date=YYYY-MM-DD/ partitions); "
            "give it, or --only run"
        )
    if not pool.strip():
        raise ConfigError("--pool: empty work pool name")
    # what every scheduled run would fail on, said now rather than at 02:00 in the worker's log
    cfg = load_config(config)
    if input_root and needing:
        list_partitions(input_root)  # a folder (it may hold no partitions yet) with valid partition names
    ensure_workspace(workspace)
    check_index(index, cfg.dedup.index)
    url = check_api(need_server=True)
    from lmforge.flows.deploy import deploy_all, ensure_pool

    if ensure_pool(pool):
        click.echo(f"created process work pool {pool!r}")
    deployed = deploy_all(
        str(workspace),
        str(input_root) if input_root else None,
        str(Path(config).resolve()) if config else None,
        pool=pool,
        schedule=not no_schedule,
        only=names,
        index=index,
    )
    for name, dep_id in deployed:
        click.echo(f"deployed {name:<36} {dep_id}")
    click.echo(f"server {url}; start a worker with: lmforge worker --pool {pool}")


@click.command("worker")
@click.option(
    "--pool",
    default="lmforge",
    show_default=True,
    help="Process work pool to poll: one `lmforge deploy` created (the default one is created if missing).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Most flow runs at a time.")
@click.option("--run-once", is_flag=True, help="Run what is due now, then exit.")
def worker_command(pool, limit, run_once) -> None:
    """Start a Prefect process worker for the pool (replaces this process; stop it with Ctrl-C)."""
    from lmforge.flows.api import check_api
    from lmforge.flows.deploy import DEFAULT_POOL, pool_types
    from lmforge.pipeline.errors import ConfigError

    url = check_api(need_server=True)
    # Prefect would create a missing pool and poll it forever, so a typo ran nothing; the default pool may be
    # missing (a worker started before the first `lmforge deploy`, as infra/compose.yaml does): Prefect creates it.
    pools = pool_types()
    if pool not in pools and pool != DEFAULT_POOL:
        raise ConfigError(
            f"--pool: no work pool {pool!r} on {url} (pools there: {', '.join(sorted(pools)) or 'none'}); "
            f"`lmforge deploy --pool {pool}` creates it with the deployments"
        )
    if pools.get(pool, "process") != "process":  # a process worker on a docker pool would poll it and run nothing
        raise ConfigError(
            f"--pool: work pool {pool!r} is a {pools[pool]!r} pool, not a process one; `lmforge worker` is a process "
            "worker: give the name of the pool `lmforge deploy` created"
        )
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    if limit is not None:
        argv += ["--limit", str(limit)]
    if run_once:
        argv.append("--run-once")
    sys.stdout.flush()
    from lmforge.flows import env

    os.execve(sys.executable, argv, env.worker_environment())


command = [deploy_command, worker_command]
