"""`lmforge shards build|inspect`: encode a snapshot into token shards, and look inside one."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from lmforge.flows.commands.common import (
    ensure_workspace,
    find_stage_in,
    lazy_workspace_option,
    print_json_summary,
    task_runner_options,
    warn,
)

_WORKSPACE_HELP = "Folder that holds the snapshots, tokenizers and shards (and, without servers, Prefect's store)."


@click.group("shards")
def command() -> None:
    """Build and inspect token shards."""


@command.command("build")
@click.option("--snapshot", required=True, help="Snapshot id (or unique prefix, or folder).")
@click.option("--tokenizer", required=True, help="Tokenizer id (or unique prefix, or folder).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML, YAML or JSON config ([shards]).")
@click.option(
    "--prefect/--no-prefect",
    default=True,
    show_default=True,
    help="Run as a Prefect flow (one task per row group) or as a plain call with a process pool.",
)
@task_runner_options
@lazy_workspace_option(_WORKSPACE_HELP)
def build(snapshot, tokenizer, config, prefect, task_runner, workers, workspace) -> None:
    """Encode SNAPSHOT with TOKENIZER into train/val shards; a re-run with the same inputs is a no-op."""
    from lmforge.pipeline.config import load_config
    from lmforge.schemas.manifest import Manifest

    cfg = load_config(config).shards
    if not prefect and click.get_current_context().get_parameter_source("task_runner") is not ParameterSource.DEFAULT:
        warn("--task-runner is Prefect's: ignored with --no-prefect, which encodes in a process pool of --workers")
    snapshot_dir = find_stage_in(workspace, "snapshots", snapshot)  # wrong ids fail now, not after Prefect started
    tokenizer_dir = find_stage_in(workspace, "tokenizers", tokenizer)
    ensure_workspace(workspace)
    if prefect:
        from lmforge.flows.commands.common import run_flow
        from lmforge.flows.tokenizer import shards_flow

        out = Path(
            run_flow(
                shards_flow,
                task_runner,
                workers,
                snapshot=snapshot,
                tokenizer=tokenizer,
                workspace=str(workspace),
                config=cfg,
            )
        )
    else:
        from lmforge.pipeline.tokenize.shards import build_shards

        out = build_shards(
            snapshot_dir,
            tokenizer_dir,
            workspace,
            cfg,
            workers=workers,
        )
    manifest = Manifest.read(out)
    click.echo(f"shards {manifest.id}: {out}")
    for split, s in manifest.stats["splits"].items():
        click.echo(f"  {split}: {s['shards']} shards, {s['docs']} docs, {s['tokens']} tokens, {s['bytes']} bytes")
    print_json_summary({"shards_id": manifest.id, "path": str(out), **manifest.stats})


def _tokenizer_for(shard: Path, tokenizer: str | None, workspace: Path) -> Path:
    """`--tokenizer` if given, else the shards manifest's `inputs.tokenizer` under the workspace (or the workspace
    the shard folder lives in)."""
    from lmforge.pipeline.errors import NotFoundError
    from lmforge.pipeline.stage import find_stage
    from lmforge.schemas.manifest import Manifest

    if tokenizer:
        return find_stage_in(workspace, "tokenizers", tokenizer)
    try:
        wanted = Manifest.read(shard.parent).inputs["tokenizer"]
    except (NotFoundError, KeyError) as exc:
        raise NotFoundError(f"{shard}: no shards manifest next to it names the tokenizer; pass --tokenizer") from exc
    for ws in (workspace, shard.resolve().parent.parent.parent):
        try:
            return find_stage(ws, "tokenizers", wanted)
        except NotFoundError:
            continue
    raise NotFoundError(f"{shard}: tokenizer {wanted} not found under {workspace}; pass --tokenizer or --workspace")


@command.command("inspect")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--tokenizer", default=None, help="Tokenizer id or folder (default: from the shards manifest).")
@lazy_workspace_option("Where to find the tokenizer by id (default: also the workspace the shard lies in).")
def inspect_(path, tokenizer, workspace) -> None:
    """Print the header of shard PATH (a .bin file, or a shards folder: its first shard), its token count and
    its first document, decoded."""
    import numpy as np

    from lmforge.pipeline.tokenize.config import BOS_ID, EOS_ID
    from lmforge.pipeline.tokenize.trainer import load_tokenizer, tokenizer_sha256
    from lmforge.schemas.shards import open_tokens, read_header

    if path.is_dir():
        bins = sorted(p for p in path.glob("*.bin") if p.is_file())
        if not bins:
            raise click.BadParameter(f"{path} holds no .bin shards", param_hint="PATH")
        path = bins[0]
    if not path.is_file():
        raise click.BadParameter(f"{path} is neither a shard file nor a folder of them", param_hint="PATH")
    header = read_header(path)
    click.echo(f"shard {path}")
    click.echo(
        f"  format version {header.format_version}, dtype {header.dtype.name}, {header.token_count} tokens, "
        f"{header.doc_count} documents, tokenizer sha256 {header.tokenizer_sha256}"
    )
    tokenizer_dir = _tokenizer_for(path, tokenizer, workspace)
    tokens = open_tokens(path, expect_tokenizer=tokenizer_sha256(tokenizer_dir))
    if header.token_count == 0:
        click.echo("  (empty shard)")
        return
    head = np.asarray(tokens[: 1 << 20])  # a first document longer than 1 M tokens is shown cut
    ends = np.flatnonzero(head == EOS_ID)
    span = head[: int(ends[0]) + 1 if len(ends) else len(head)]  # the first document with its BOS and EOS
    first = [int(t) for t in span if t not in (BOS_ID, EOS_ID)]
    sp = load_tokenizer(tokenizer_dir)
    if first and max(first) >= sp.vocab_size():
        from lmforge.pipeline.errors import IntegrityError

        raise IntegrityError(
            f"{path}: token id {max(first)} is outside the vocabulary of tokenizer {tokenizer_dir.name} "
            f"({sp.vocab_size()} pieces); the shard is damaged: build the shards again"
        )
    marks = " and ".join(name for name, tid in (("BOS", BOS_ID), ("EOS", EOS_ID)) if tid in span.tolist())
    click.echo(f"  first document: {len(span)} tokens" + (f" ({marks} included)" if marks else ""))
    click.echo("-" * 40)
    click.echo(sp.decode(first))
