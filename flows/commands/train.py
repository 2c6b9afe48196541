"""`lmforge train`: run the `train` flow (torchrun underneath) on a shards id with a TOML config."""

from __future__ import annotations

from pathlib import Path

import click

from lmforge.flows.commands.common import (
    ensure_workspace,
    find_stage_in,
    lazy_workspace_option,
    print_json_summary,
    warn_train_config,
)


def check_servers(config: Path | None) -> None:
    """Fail before any work when the Prefect API, or the MLflow server the run would log to, does not answer (else:
    minutes of client retries inside the worker, then a torchrun traceback that does not name the server); first say
    what in the config is valid but likely a mistake (`TrainConfig.warnings`), before the launch."""
    import os

    from lmforge.flows.api import check_api
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.registry.registry import check_reachable

    train_config = load_config(config).train  # a bad config is named here too
    warn_train_config(train_config)
    check_api()
    if train_config.tracking.mlflow:
        check_reachable(os.environ.get("MLFLOW_TRACKING_URI", ""))


@click.command("train")
@click.option("--shards", required=True, help="Shards id (or unique prefix, or folder) under <workspace>/shards.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML, YAML or JSON config with a [train] section.",
)
@click.option(
    "--nproc", type=click.IntRange(min=1), default=None, help="Processes per node (default: one per GPU, else 1)."
)
@click.option(
    "--nnodes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Nodes (multi-node needs --rdzv-endpoint).",
)
@click.option("--node-rank", type=click.IntRange(min=0), default=0, show_default=True, help="This node's rank.")
@click.option("--rdzv-endpoint", default=None, help="HOST:PORT of the rendezvous (multi-node).")
@click.option(
    "--resume", is_flag=True, help="Continue the run from its last checkpoint (else existing checkpoints are an error)."
)
@lazy_workspace_option(
    "Folder that holds the shards and gets the run (and, without servers, Prefect's and MLflow's stores)."
)
def command(shards, config, nproc, nnodes, node_rank, rdzv_endpoint, resume, workspace) -> None:
    """Train the model of CONFIG on SHARDS with torchrun (DDP; gloo on CPU, NCCL on GPU), logging to MLflow."""
    find_stage_in(workspace, "shards", shards)  # a wrong id fails here, before Prefect starts
    check_servers(config)
    ensure_workspace(workspace)
    from lmforge.flows.train import train_flow

    result = train_flow(
        shards=shards,
        workspace=str(workspace),
        config_path=str(config) if config else None,
        nproc=nproc,
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        resume=resume,
    )
    verb = "already finished (no-op)" if result.get("skipped") else "finished"
    click.echo(f"run {Path(result['run_dir']).name} {verb}: {result['run_dir']}")
    click.echo(
        f"  steps {result.get('step')}, tokens {result.get('tokens_seen')}, train loss "
        f"{result.get('train_loss')}, val loss {result.get('val_loss')}"
    )
    if result.get("mlflow_run_id"):
        click.echo(f"  MLflow run {result['mlflow_run_id']}")
    print_json_summary(result)
