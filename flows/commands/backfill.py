"""`lmforge backfill`: one flow run per date partition (`ROOT/date=YYYY-MM-DD/`), skipping finished ones."""

from __future__ import annotations

from pathlib import Path

import click

from lmforge.flows.commands.common import (
    RUN_STAGES,
    ensure_workspace,
    print_json_summary,
    warn,
    workspace_option,
)


@click.command("backfill")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="First day (inclusive).")
@click.option("--to", "end", required=True, metavar="YYYY-MM-DD", help="Last day (inclusive).")
@click.option(
    "--input-root",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of date=YYYY-MM-DD/ partitions, each a folder of input files.",
)
@workspace_option
@click.option(
    "--stages",
    default="curate",
    show_default=True,
    help="Comma-separated stages run per partition (must include curate).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Partitions run at a time. 1 is deterministic (date order, each day deduplicated against all "
    "earlier days); K > 1 is faster but which copy of a cross-day duplicate survives may vary.",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML, YAML or JSON config, one section per stage.",
)
@click.option("--index", default=None, help="Dedup index: default <workspace>/dedup-index, or redis://HOST:PORT/DB.")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=None,
    help="Training processes per node, when the stages include train.",
)
def command(start, end, input_root, workspace, stages, concurrency, config, index, nproc) -> None:
    """Curate (and optionally more stages of) every date partition in [--from, --to], one flow run each.

    Finished partitions (a marker under <workspace>/backfill/) are skipped, so a crashed backfill re-run picks up
    where it stopped. Duplicates across days are removed through the persistent dedup index.
    """
    from lmforge.flows.api import check_index
    from lmforge.flows.backfill import backfill
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.errors import ConfigError, LmforgeError
    from lmforge.pipeline.partitions import describe_days, parse_day, select_partitions

    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    stage_list = [s.strip() for s in stages.split(",") if s.strip()]
    unknown = sorted(set(stage_list) - set(RUN_STAGES))
    if unknown:
        raise ConfigError(f"--stages: unknown stage(s) {unknown}; choose from {list(RUN_STAGES)}")
    if "curate" not in stage_list:
        raise ConfigError("--stages: a backfill curates each partition, so the stages must include 'curate'")
    if nproc is not None and "train" not in stage_list:
        warn("--nproc is for training: ignored, since --stages does not include train")
    # every mistake in the arguments is said before the workspace is made (`backfill` itself checks them again)
    select_partitions(input_root, first, last)
    cfg = load_config(config)
    ensure_workspace(workspace)
    check_index(index, cfg.dedup.index)
    report = backfill(
        input_root,
        first,
        last,
        workspace,
        stages=stage_list,
        concurrency=concurrency,
        config_path=str(config) if config else None,
        index=index,
        nproc=nproc,
    )
    click.echo("")
    click.echo(f"{'date':<12} {'status':<8} {'snapshot':<18} {'docs in':>8} {'kept':>8} {'dups removed':>13}")
    for o in report.outcomes:
        snap = (o.snapshot or "-")[:16]
        click.echo(f"{o.day:<12} {o.status:<8} {snap:<18} {o.docs_in:>8} {o.kept:>8} {o.duplicates_removed:>13}")
        if o.note:
            click.echo(f"{'':<12} note: {o.note}")
        if o.error:
            click.echo(f"{'':<12} error: {o.error}")
    if report.missing:
        click.echo(
            f"no partition folder for {len(report.missing)} day(s) in the range: {describe_days(report.missing)}"
        )
    kept = sum(o.kept for o in report.outcomes)
    dups = sum(o.duplicates_removed for o in report.outcomes)
    click.echo(
        f"done {report.count('done')}, skipped {report.count('skipped')}, failed {report.count('failed')}; "
        f"kept {kept} documents, removed {dups} duplicates"
    )
    print_json_summary(report.to_dict())
    if not report.ok:
        raise LmforgeError(f"{report.count('failed')} partition(s) failed; re-run the same command to retry them")
