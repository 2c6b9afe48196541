"""`lmforge register`: package a finished run as an MLflow model version with lineage, then the promotion gate."""

from __future__ import annotations

from pathlib import Path

import click

from lmforge.flows.commands.common import ensure_workspace, lazy_workspace_option, missing_workspace, print_json_summary
from lmforge.pipeline.errors import NotFoundError


def resolve_run(workspace: Path, run: str) -> Path:
    """A run folder from a path, a run id or a unique id prefix under `<ws>/runs`."""
    if not run.strip():  # Path("") is the current folder, and an empty prefix matches every run
        raise NotFoundError("--run is empty; give the run id (or a unique prefix of it, or its folder)")
    path = Path(run)
    if path.is_dir():
        return path
    root = workspace / "runs"
    found = (  # by name, not glob: `*`, `[` or an absolute path in RUN are no pattern
        sorted(d for d in root.iterdir() if d.name.startswith(run) and d.is_dir() and not d.name.startswith("."))
        if root.is_dir()
        else []
    )
    exact = [d for d in found if d.name == run]  # a run whose copy (`<id>-copy`) sits beside it is no ambiguity
    if len(found) == 1 or exact:
        return (exact or found)[0]
    if not Path(workspace).exists():
        raise missing_workspace(Path(workspace))
    known = ", ".join(d.name for d in sorted(root.iterdir()) if d.is_dir()) if root.is_dir() else ""
    what = "is ambiguous" if found else "matches no run"
    raise NotFoundError(f"--run {run!r} {what} under {root}" + (f" (runs: {known})" if known else ""))


@click.command("register")
@click.option("--run", "run", required=True, help="Run folder, or run id (or unique prefix) under <workspace>/runs.")
@click.option("--shards", default=None, help="Check that the run was trained on these shards (id).")
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML or YAML config with a [registry] section."
)
@click.option("--model-name", default=None, help="Registered model name (default: registry.model_name, 'lmforge').")
@lazy_workspace_option(
    "Folder that holds the run and its shards (and, without servers, Prefect's and MLflow's stores)."
)
def command(run, shards, config, model_name, workspace) -> None:
    """Register RUN's newest checkpoint as a new model version (alias @candidate), with its lineage, and promote it
    to @champion if it beats the champion's val bits per byte (the first version always becomes champion)."""
    from lmforge.pipeline.config import load_config

    # `--model-name ""` (an unset variable) is refused as a name, not taken for the default
    overrides = {"registry": {"model_name": model_name}} if model_name is not None else None
    load_config(config, overrides=overrides)  # a bad config or name is one line here, not an error inside the flow
    run_dir = resolve_run(workspace, run)
    ensure_workspace(workspace)  # before Prefect is imported: it makes its home folder, if it can, on import
    from lmforge.flows.api import check_api
    from lmforge.flows.register import register_flow

    check_api()  # an unreachable Prefect API is one line here, not a traceback from inside the flow call
    from lmforge.pipeline.registry.registry import check_finished, checkpoint_of

    checkpoint_of(run_dir)  # a run without a checkpoint, or one that stopped early: one line before Prefect's
    check_finished(run_dir)  # temporary server starts (~10 s), not an error inside the flow
    result = register_flow(
        workspace=str(workspace),
        run_dir=str(run_dir),
        shards_id=shards,
        config_path=str(config) if config else None,
        overrides=overrides,
    )
    gate = result["gate"]
    click.echo(
        f"registered {result['model_uri']} (MLflow run {result['mlflow_run_id']}), aliases: "
        f"{', '.join('@' + a for a in result['aliases']) or 'none'}"
    )
    click.echo(f"  val bpb {result['metrics']['val_bpb']:.4f}, loss {result['metrics']['val_loss']:.4f}")
    # not @candidate when a newer version took the alias while this one registered (`registry._move_candidate`)
    kept = "stays @candidate" if "candidate" in result["aliases"] else "not promoted"
    verdict = "promoted to @champion" if gate["promoted"] else kept
    click.echo(f"  gate: {verdict}: {gate['reason']}")
    print_json_summary(result)
