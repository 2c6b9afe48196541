"""The `train` flow: plan the run folder, then one task that launches torchrun and streams its workers' output
into the Prefect run log. Everything it passes or returns is a path, an id or a number.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from lmforge.pipeline.config import load_config
from lmforge.pipeline.stage import is_done
from lmforge.pipeline.train.launch import (
    check_topology,
    default_nproc,
    plan_run,
    run_lock,
    run_torchrun,
    torchrun_command,
    write_config,
)
from lmforge.pipeline.train.trainer import Trainer


@task(name="torchrun", task_run_name="torchrun-{run_id:.12}")
def torchrun_task(
    shards_dir: str,
    run_dir: str,
    run_id: str,
    nproc: int,
    nnodes: int,
    node_rank: int,
    rdzv_endpoint: str | None,
    resume: bool,
    tags: dict[str, str],
) -> dict[str, Any]:
    """Run the workers; a worker failure fails the task with the workers' last error lines."""
    logger = get_run_logger()
    cmd = torchrun_command(
        shards_dir=Path(shards_dir),
        run_dir=Path(run_dir),
        nproc=nproc,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        resume=resume,
        tags=tags,
    )
    logger.info("launching %d process(es) × %d node(s) for run %s", nproc, nnodes, run_id)
    run_torchrun(cmd, on_line=logger.info)
    return Trainer.read_run_json(Path(run_dir))


@flow(name="train", flow_run_name="train-{shards:.12}", log_prints=False)
def train_flow(
    shards: str,
    workspace: str,
    config_path: str | None = None,
    overrides: dict | None = None,
    nproc: int | None = None,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Train on the shards `shards` (id, prefix or path) with the `[train]` section of `config_path`.

    The run folder is named by the shards id and the config; an existing one is resumed from its last checkpoint
    (unless `resume` is false), and a finished one is returned as is.
    """
    config = load_config(config_path, overrides).train
    nproc = default_nproc(config.device) if nproc is None else nproc
    check_topology(nproc, nnodes, node_rank, rdzv_endpoint)  # before the run folder exists
    logger = get_run_logger()
    plan = plan_run(workspace, shards, config)
    if is_done(plan.run_dir):
        logger.info("run %s already finished: %s", plan.run_id, plan.run_dir)
        return {**Trainer.read_run_json(plan.run_dir), "run_dir": str(plan.run_dir), "skipped": True}
    # One launcher per run at a time (node 0 of a multi-node run holds it for all of them).
    with run_lock(plan.run_dir) if node_rank == 0 else contextlib.nullcontext():
        if is_done(plan.run_dir):  # finished by another launcher since the check above
            return {**Trainer.read_run_json(plan.run_dir), "run_dir": str(plan.run_dir), "skipped": True}
        write_config(plan.run_dir, config)
        tags = {"lmforge.prefect_flow_run_id": str(flow_run.get_id())}
        info = torchrun_task(
            str(plan.shards_dir),
            str(plan.run_dir),
            plan.run_id,
            nproc,
            nnodes,
            node_rank,
            rdzv_endpoint,
            resume,
            tags,
        )
    return {**info, "run_dir": str(plan.run_dir), "skipped": False}
