"""`lmforge tokenizer train|report`: train a sentencepiece tokenizer on a snapshot and show its report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from lmforge.flows.commands.common import (
    ensure_workspace,
    find_stage_in,
    lazy_workspace_option,
    print_json_summary,
)

_WORKSPACE_HELP = (
    "Folder that holds the snapshots and tokenizers (and, without servers, Prefect's and MLflow's stores)."
)


def tokenizer_config(config_path: Path | None, **overrides):
    """`[tokenizer]` of the TOML file (if any), with the command-line values that were given on top."""
    from lmforge.pipeline.config import load_config

    base = load_config(config_path).tokenizer
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return base
    from lmforge.pipeline.configuring import from_dict, to_dict
    from lmforge.pipeline.errors import ConfigError
    from lmforge.pipeline.tokenize.config import TokenizerConfig

    try:
        return from_dict(TokenizerConfig, {**to_dict(base), **given}, where="tokenizer")
    except ConfigError as exc:  # name the option the value came from, not a config key the user never wrote
        message = str(exc)
        for key in given:
            if message.startswith(f"tokenizer.{key}: "):
                raise click.BadParameter(message.split(": ", 1)[1], param_hint=f"'--{key.replace('_', '-')}'") from None
        raise


@click.group("tokenizer")
def command() -> None:
    """Train and inspect sentencepiece tokenizers."""


@command.command("train")
@click.option("--snapshot", required=True, help="Snapshot id (or unique prefix, or folder).")
@click.option("--vocab-size", type=int, default=None, help="Vocabulary size (default 8000).")
@click.option(
    "--model-type",
    type=click.Choice(["unigram", "bpe", "char"]),
    default=None,
    help="sentencepiece algorithm (default unigram).",
)
@click.option("--sample-chars", type=int, default=None, help="Cap on training-sample characters (default 20 M).")
@click.option(
    "--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML, YAML or JSON config ([tokenizer])."
)
@click.option(
    "--prefect/--no-prefect",
    default=True,
    show_default=True,
    help="Run as a Prefect flow (report published as an artifact) or as a plain function call.",
)
@lazy_workspace_option(_WORKSPACE_HELP)
def train(snapshot, vocab_size, model_type, sample_chars, config, prefect, workspace) -> None:
    """Train a tokenizer on a deterministic sample of SNAPSHOT; a re-run with the same inputs is a no-op."""
    cfg = tokenizer_config(config, vocab_size=vocab_size, model_type=model_type, sample_chars=sample_chars)
    snapshot_dir = find_stage_in(workspace, "snapshots", snapshot)  # a wrong id fails now, not after Prefect started
    ensure_workspace(workspace)
    if prefect:
        from lmforge.flows.tokenizer import tokenizer_flow

        out = Path(tokenizer_flow(snapshot=snapshot, workspace=str(workspace), config=cfg))
    else:
        from lmforge.pipeline.tokenize.trainer import train_tokenizer

        out = train_tokenizer(snapshot_dir, workspace, cfg)
    from lmforge.schemas.manifest import Manifest

    manifest = Manifest.read(out)
    s = manifest.stats
    click.echo(f"tokenizer {manifest.id}: {out}")
    asked = (
        f" (asked for {cfg.vocab_size}: the sample has no more characters)" if s["vocab_size"] < cfg.vocab_size else ""
    )
    click.echo(
        f"  vocab {s['vocab_size']}{asked}, {cfg.model_type}; sample {s['sample_docs']} docs / {s['sample_chars']} chars"
    )
    print_json_summary({"tokenizer_id": manifest.id, "path": str(out), "params": dataclasses.asdict(cfg), **s})


@command.command("report")
@click.argument("tokenizer")
@click.option("--snapshot", default=None, help="Snapshot to measure on (default: the one it was trained on).")
@lazy_workspace_option(_WORKSPACE_HELP)
def report(tokenizer, snapshot, workspace) -> None:
    """Print the Markdown report of TOKENIZER (id, prefix or folder) on held-out documents."""
    from lmforge.pipeline.errors import NotFoundError
    from lmforge.pipeline.stage import find_stage
    from lmforge.pipeline.tokenize.report import report_markdown, tokenizer_report
    from lmforge.pipeline.tokenize.trainer import TOKENIZER_FORMAT
    from lmforge.schemas.manifest import MANIFEST_NAME, Manifest

    tokenizer_dir = find_stage_in(workspace, "tokenizers", tokenizer)
    manifest = Manifest.read(tokenizer_dir)
    if manifest.format != TOKENIZER_FORMAT:  # a folder of another stage (a snapshot's) is found by its path too
        raise NotFoundError(
            f"{tokenizer_dir} holds a {manifest.format!r} manifest, not a tokenizer's; give a tokenizer id or folder"
        )
    if snapshot:
        snapshot_dir = find_stage_in(workspace, "snapshots", snapshot)
    else:  # the one it was trained on: under --workspace, else in the workspace the tokenizer folder lives in
        snapshot = manifest.inputs.get("snapshot")
        if not isinstance(snapshot, str) or not snapshot:
            raise NotFoundError(
                f"{tokenizer_dir / MANIFEST_NAME}: no inputs.snapshot names the snapshot it was trained on; "
                "pass --snapshot"
            )
        try:
            snapshot_dir = find_stage(tokenizer_dir.resolve().parent.parent, "snapshots", snapshot)
        except NotFoundError:
            snapshot_dir = find_stage_in(workspace, "snapshots", snapshot)
    click.echo(report_markdown(tokenizer_report(tokenizer_dir, snapshot_dir)), nl=False)
