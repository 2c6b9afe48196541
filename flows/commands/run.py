"""`lmforge run`: the whole chain, from raw corpora (default: the built-in corpus) to a registered model."""

from __future__ import annotations

from pathlib import Path

import click

from lmforge.flows.commands.common import (
    RUN_STAGES,
    FiniteFloatRange,
    ensure_workspace,
    print_json_summary,
    warn,
    warn_train_config,
    workspace_option,
)
from lmforge.pipeline.corpus.default import MIN_MAX_MB


@click.command("run")
@workspace_option
@click.option("--input", "inputs", multiple=True, help="Input file/folder (repeatable). Default: the built-in corpus.")
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
    help="Training processes per node (default: one per GPU, else 1).",
)
@click.option(
    "--stages",
    default=None,
    help="Comma-separated subset of: curate,tokenizer,shards,train,evaluate,"
    "register. A stage left out is never run: its output is taken from the workspace (the snapshot of --input "
    "when given, else the latest) and must be there.",
)
@click.option(
    "--corpus-mb",
    type=FiniteFloatRange(min=MIN_MAX_MB),
    default=None,
    help="Size cap of the built-in corpus (default 16 MB).",
)
def command(workspace, inputs, config, index, nproc, stages, corpus_mb) -> None:
    """Curate → tokenizer → shards → train → evaluate → register, skipping every stage whose output exists."""
    import os

    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.errors import ConfigError

    stage_list = [s.strip() for s in stages.split(",") if s.strip()] if stages is not None else None
    if stage_list == []:
        raise ConfigError(f"--stages: no stage given; choose from {list(RUN_STAGES)}")
    unknown = sorted(set(stage_list or ()) - set(RUN_STAGES))
    if unknown:
        raise ConfigError(f"--stages: unknown stage(s) {unknown}; choose from {list(RUN_STAGES)}")
    # a bad config or input, an unreachable Prefect API, dedup index or MLflow server fail here, before any work
    cfg = load_config(config)
    if inputs:
        from lmforge.pipeline.curate.inputs import plan_inputs

        plan_inputs(list(inputs), cfg.curate.text_extensions, warn=False)  # the curate flow warns
    wanted = set(stage_list or RUN_STAGES)
    if corpus_mb is not None and (inputs or "curate" not in wanted):
        warn(
            "--corpus-mb sizes the built-in corpus: ignored, since "
            + ("--input is given" if inputs else "--stages does not include curate")
        )
    if nproc is not None and "train" not in wanted:
        warn("--nproc is for training: ignored, since --stages does not include train")
    if index is not None and "curate" not in wanted:
        warn("--index is the dedup index of curation: ignored, since --stages does not include curate")
    if "train" in wanted:  # the train flow launches torchrun as `lmforge train` does
        warn_train_config(cfg.train)
    ensure_workspace(workspace)  # only now: a usage error above leaves no workspace behind
    # Prefect (and MLflow) are imported only now: Prefect makes its home in the workspace when first imported
    from lmforge.flows.api import check_api, check_index
    from lmforge.flows.run import run_flow
    from lmforge.pipeline.registry.registry import check_reachable

    if "curate" in wanted:  # only curation reads the index: a Redis that is down must not stop a later stage
        check_index(index, cfg.dedup.index)
    check_api()
    if wanted & {"train", "register"}:  # the stages that log to MLflow: a server that is down stops no other one
        check_reachable(os.environ.get("MLFLOW_TRACKING_URI", ""))
    result = run_flow(
        workspace=str(workspace),
        inputs=list(inputs) or None,
        config_path=str(config) if config else None,
        index=index,
        nproc=nproc,
        stages=stage_list,
        corpus_mb=corpus_mb,
    )
    click.echo("")
    click.echo(f"workspace   {workspace}")
    for key in ("snapshot", "tokenizer", "shards", "run_dir", "mlflow_run_id"):
        if result.get(key):
            click.echo(f"{key:<11} {result[key]}")
    if result.get("eval"):
        m, u = result["eval"]["model"], result["eval"]["unigram"]
        click.echo(
            f"val ppl     {m['ppl']:.2f} (bits/byte {m['bpb']:.3f})   unigram baseline ppl {u['ppl']:.2f} "
            f"(bits/byte {u['bpb']:.3f})"
        )
    model = result.get("model")
    if model:
        click.echo(f"model       {model['model_name']} version {model['version']} ({model['model_uri']})")
        if model.get("aliases"):
            click.echo(f"aliases     {', '.join(model['aliases'])}")
    print_json_summary(result)
