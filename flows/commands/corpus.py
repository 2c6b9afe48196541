"""`lmforge corpus default`: materialise the built-in default corpus (no download) as JSONL files."""

from __future__ import annotations

import time
from pathlib import Path

import click

from lmforge.flows.commands.common import FiniteFloatRange
from lmforge.pipeline.corpus.default import DEFAULT_MAX_MB, MIN_MAX_MB, build_default_corpus, corpus_stats


@click.group("corpus")
def command() -> None:
    """Built-in corpora."""


@command.command("default")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Folder for the JSONL files.")
@click.option(
    "--max-mb",
    type=FiniteFloatRange(min=MIN_MAX_MB),
    default=DEFAULT_MAX_MB,
    show_default=True,
    help="Total size cap in MB (10^6 bytes), shared across sources.",
)
def default_command(out: Path, max_mb: float) -> None:
    """Write the default corpus into OUT: stdlib and installed-package documentation plus a zh/en/de sample.

    It is real human-written text with natural duplicates and real author e-mails (METADATA), so every later
    stage has work to do; the same environment always gives byte-identical files.
    """
    start = time.perf_counter()
    paths = build_default_corpus(out, max_mb=max_mb)
    stats = corpus_stats(paths)
    click.echo(f"default corpus in {out} ({time.perf_counter() - start:.1f} s):")
    for path in paths:
        rows = [s for s in stats if s.file == path.name]
        click.echo(f"  {path.name}: {sum(s.records for s in rows)} records, {path.stat().st_size / 1e6:.2f} MB")
        for s in rows:
            click.echo(f"    {s.source}: {s.records} records, {s.bytes / 1e6:.2f} MB")
