"""`lmforge curate` and `lmforge dedup`."""

from __future__ import annotations

from pathlib import Path

import click

from lmforge.flows.commands.common import (
    FiniteFloatRange,
    ensure_workspace,
    print_json_summary,
    run_flow,
    task_runner_options,
    workspace_option,
)


def _run_curate(inputs, workspace, config, strict, index, overrides, task_runner, workers) -> None:
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.curate.inputs import plan_inputs

    # Fail on a bad config, a missing input or an unreachable index before Prefect starts.
    cfg = load_config(config, overrides)
    plan_inputs(list(inputs), cfg.curate.text_extensions, warn=False)  # the flow warns
    ensure_workspace(workspace)  # only now: a usage error above leaves no workspace behind
    from lmforge.flows.api import check_api, check_index

    check_index(index, cfg.dedup.index)
    check_api()
    from lmforge.flows.curate import curate_flow

    result = run_flow(
        curate_flow,
        task_runner,
        workers,
        inputs=list(inputs),
        workspace=str(workspace),
        config_path=str(config) if config else None,
        strict=strict,
        index=index,
        overrides=overrides,
    )
    s = result["stats"]
    verb = "exists (no-op)" if result["skipped"] else "written"
    click.echo(f"snapshot {result['snapshot_id']} {verb}: {result['path']}")
    click.echo(f"  documents in {s['docs_in']}, kept {s['kept']}, rejected {s['rejected']}")
    for reason, n in s["by_reason"].items():
        click.echo(f"    {reason}: {n}")
    if s.get("pii"):
        click.echo("  PII redacted: " + ", ".join(f"{k}={v}" for k, v in s["pii"].items()))
    if s.get("file_problems"):
        click.echo("  file problems: " + ", ".join(f"{k}={v}" for k, v in s["file_problems"].items()))
    print_json_summary(result)


@click.command("curate")
@click.argument("inputs", nargs=-1, required=True)
@workspace_option
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML, YAML or JSON config ([curate], [privacy]…).",
)
@click.option(
    "--strict", is_flag=True, help="Exit 2 naming the first malformed input (file and line), after curating every file."
)
@click.option("--index", default=None, help="Dedup index: default <workspace>/dedup-index, or redis://HOST:PORT/DB.")
@task_runner_options
def curate_command(inputs, workspace, config, strict, index, task_runner, workers) -> None:
    """Clean, redact and deduplicate INPUT files/folders (JSONL[.gz|.zst], Parquet, text folders; NAME=PATH names
    the source) into a validated Parquet snapshot."""
    _run_curate(inputs, workspace, config, strict, index, None, task_runner, workers)


@click.command("dedup")
@click.argument("inputs", nargs=-1, required=True)
@workspace_option
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML, YAML or JSON config.")
@click.option(
    "--threshold",
    type=FiniteFloatRange(min=0.0, max=1.0, min_open=True),
    default=None,
    help="Target Jaccard similarity of near duplicates (default 0.8); pairs down to threshold - dedup.margin "
    "(0.1) count too.",
)
@click.option("--index", default=None, help="Dedup index: default <workspace>/dedup-index, or redis://HOST:PORT/DB.")
@click.option(
    "--strict", is_flag=True, help="Exit 2 naming the first malformed input (file and line), after curating every file."
)
@task_runner_options
def dedup_command(inputs, workspace, config, threshold, index, strict, task_runner, workers) -> None:
    """Remove exact and near duplicates from INPUTs (quality filters off; text is still cleaned and PII-redacted)."""
    # dedup on even if the --config (say, a run's) turns it off: this command would otherwise keep every duplicate
    overrides: dict = {"curate": {"filters": {"enabled": False}}, "dedup": {"enabled": True}}
    if threshold is not None:
        overrides["dedup"]["threshold"] = threshold
    _run_curate(inputs, workspace, config, strict, index, overrides, task_runner, workers)


command = [curate_command, dedup_command]
