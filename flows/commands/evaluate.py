"""`lmforge evaluate`: loss, perplexity and bits per byte of a checkpoint on held-out shards, vs a unigram model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lmforge.flows.commands.common import find_stage_in, lazy_workspace_option, print_json_summary
from lmforge.pipeline.errors import NotFoundError


def _row(name: str, m: dict[str, Any]) -> str:
    return f"  {name:<14} {m['loss']:>8.4f} {m['ppl']:>10.2f} {m['bpb']:>7.4f} {m['tokens']:>11,d}"


def report(model_m: dict[str, Any], unigram_m: dict[str, Any] | None) -> list[str]:
    """The printed table: overall, then per language, model and unigram side by side."""
    lines = [f"  {'':<14} {'loss':>8} {'ppl':>10} {'bpb':>7} {'tokens':>11}", _row("model", model_m)]
    if unigram_m:
        lines.append(_row("unigram", unigram_m))
    for lang, m in model_m["per_lang"].items():
        lines.append(_row(f"model [{lang}]", m))
        if unigram_m and lang in unigram_m["per_lang"]:
            lines.append(_row(f"unigram [{lang}]", unigram_m["per_lang"][lang]))
    return lines


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--shards", required=True, help="Shards id (or unique prefix, or folder) under <workspace>/shards.")
@click.option("--split", default="val", show_default=True, help="Which shards to score (val, train…).")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Windows scored per forward pass."
)
@click.option(
    "--seq-len",
    type=click.IntRange(min=1),
    default=None,
    help="Window length (default: the model's context, or the training seq_len for the LSTM).",
)
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Stop after this many batches.")
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda, cuda:1).")
@click.option("--baseline/--no-baseline", default=True, show_default=True, help="Also score a unigram model.")
@lazy_workspace_option("Folder that holds the shards (an id given to --shards is looked up there).")
def command(checkpoint, shards, split, batch_size, seq_len, max_batches, device, baseline, workspace) -> None:
    """Score CHECKPOINT (run folder, checkpoint folder or a file in one) on the --split shards: loss, perplexity
    and bits per byte, overall and per language, next to a unigram model fit on the train split."""
    from lmforge.pipeline.digest import sha256_file
    from lmforge.pipeline.errors import IntegrityError
    from lmforge.pipeline.train.checkpoint import load_for_inference
    from lmforge.pipeline.train.evaluate import evaluate, shard_paths, unigram_baseline
    from lmforge.schemas.shards import read_header

    if not checkpoint.exists():
        raise NotFoundError(f"{checkpoint}: no such checkpoint file or folder")
    shards_dir = find_stage_in(workspace, "shards", shards)
    model, config, tokenizer = load_for_inference(checkpoint, device=device)
    expect = sha256_file(tokenizer) if Path(tokenizer).is_file() else None
    first = shard_paths(shards_dir, split)[0]
    if expect is not None and (cut_by := read_header(first).tokenizer_sha256) != expect:
        raise IntegrityError(
            f"shards {shards_dir.name} were cut by another tokenizer (sha256 {cut_by[:12]}…) than the one "
            f"{checkpoint} was trained with ({tokenizer}, sha256 {expect[:12]}…); evaluate on shards built with "
            "the model's tokenizer (lmforge shards build --tokenizer ID)"
        )
    seq_len = seq_len or getattr(model, "block_size", None) or config.data.seq_len
    result = evaluate(
        model,
        shards_dir,
        split,
        batch_size=batch_size,
        seq_len=seq_len,
        device=device,
        max_batches=max_batches,
        expect_tokenizer=expect,
    )
    # on the positions the model scored: all of them, or with --max-batches the same first part of the split
    part = result.get("scored_to")
    uni = unigram_baseline(shards_dir, split, vocab_size=model.vocab_size, scored_to=part) if baseline else None
    click.echo(
        f"{checkpoint} on shards {shards_dir.name} ({split}): {result['tokens']:,d} tokens, "
        f"{result['bytes']:,.0f} bytes, {result['batches']} batches of {batch_size}×{result['seq_len']}"
    )
    for line in report(result, uni):
        click.echo(line)
    if uni:
        click.echo(
            f"model ppl {result['ppl']:.2f} vs unigram ppl {uni['ppl']:.2f}; "
            f"bpb {result['bpb']:.4f} vs {uni['bpb']:.4f}"
        )
    print_json_summary({"model": result, "unigram": uni, "shards": shards_dir.name, "checkpoint": str(checkpoint)})
