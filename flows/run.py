"""`lmforge run`: the whole chain as one Prefect flow of subflows.

curate (clean, privacy, dedup) → tokenizer → shards → train → evaluate → register. Each stage's output folder is
content-addressed, so a stage whose output exists is skipped (and says so); training resumes from its last
checkpoint. A crash anywhere (kill -9 included) is recovered by running the same command again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from lmforge.flows.curate import curate_flow
from lmforge.flows.tokenizer import shards_flow, tokenizer_flow
from lmforge.flows.train import train_flow
from lmforge.pipeline.config import load_config
from lmforge.pipeline.stage import find_stage

STAGES = ("curate", "tokenizer", "shards", "train", "evaluate", "register")


@task(name="default-corpus")
def default_corpus_task(workspace: str, max_mb: float | None) -> list[str]:
    """Materialise the built-in corpus once per workspace (it is deterministic for a given environment)."""
    from lmforge.pipeline.corpus.default import DEFAULT_MAX_MB, build_default_corpus

    out = Path(workspace) / "corpus"
    marker = out / ".complete"
    if not marker.is_file():
        build_default_corpus(out, max_mb=max_mb or DEFAULT_MAX_MB)
        marker.write_text("ok\n")
    return [str(out)]


@task(name="evaluate")
def evaluate_task(run_dir: str, shards_dir: str) -> dict[str, Any]:
    """Val loss / perplexity / bits per byte of the final checkpoint, beside a unigram baseline on the same shards."""
    from lmforge.pipeline.tokenize.trainer import tokenizer_sha256
    from lmforge.pipeline.train.checkpoint import load_for_inference
    from lmforge.pipeline.train.evaluate import evaluate, unigram_baseline

    model, config, tokenizer_model = load_for_inference(Path(run_dir))
    metrics = evaluate(
        model,
        Path(shards_dir),
        "val",
        batch_size=config.data.batch_size,
        seq_len=config.data.seq_len,
        expect_tokenizer=tokenizer_sha256(tokenizer_model.parent),
    )
    baseline = unigram_baseline(Path(shards_dir), "val")
    return {
        "model": _scalars(metrics),
        "unigram": _scalars(baseline),
        "per_lang": {k: _scalars(v) for k, v in metrics.get("per_lang", {}).items()},
    }


def _scalars(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, int | float) and not isinstance(v, bool)}


@flow(name="lmforge-run", flow_run_name="run-{workspace}", log_prints=False)
def run_flow(
    workspace: str = "workspace",
    inputs: list[str] | None = None,
    config_path: str | None = None,
    overrides: dict | None = None,
    index: str | None = None,
    nproc: int | None = None,
    stages: list[str] | None = None,
    corpus_mb: float | None = None,
) -> dict[str, Any]:
    """Raw corpora (default: the built-in corpus) → a registered MLflow model. Returns ids, paths and metrics."""
    logger = get_run_logger()
    cfg = load_config(config_path, overrides)
    wanted = set(stages or STAGES)
    out: dict[str, Any] = {"workspace": workspace}
    if not inputs:
        inputs = default_corpus_task(workspace, corpus_mb)
        logger.info("no inputs given: using the built-in default corpus in %s", inputs[0])

    if "curate" in wanted:
        cur = curate_flow(inputs=inputs, workspace=workspace, config_path=config_path, index=index, overrides=overrides)
        out["snapshot"] = cur["snapshot_id"]
        logger.info(
            "curate: snapshot %s %s (%d of %d documents kept)",
            cur["snapshot_id"],
            "already existed, skipped" if cur["skipped"] else "written",
            cur["stats"]["kept"],
            cur["stats"]["docs_in"],
        )
    else:
        out["snapshot"] = _latest(workspace, "snapshots")
    if wanted & {"tokenizer", "shards", "train", "evaluate", "register"}:
        tok_dir = tokenizer_flow(snapshot=out["snapshot"], workspace=workspace, config=cfg.tokenizer)
        out["tokenizer"] = Path(tok_dir).name
    if wanted & {"shards", "train", "evaluate", "register"}:
        shards_dir = shards_flow(
            snapshot=out["snapshot"], tokenizer=out["tokenizer"], workspace=workspace, config=cfg.shards
        )
        out["shards"] = Path(shards_dir).name
    if wanted & {"train", "evaluate", "register"}:
        train = train_flow(
            shards=out["shards"], workspace=workspace, config_path=config_path, overrides=overrides, nproc=nproc
        )
        out["run_dir"] = train["run_dir"]
        out["mlflow_run_id"] = train.get("mlflow_run_id")
        resumed = f" (resumed from step {train['resumed_from']})" if train.get("resumed_from") else ""
        logger.info(
            "train: run %s %s%s",
            Path(train["run_dir"]).name,
            "already finished, skipped" if train.get("skipped") else "finished",
            resumed,
        )
    if wanted & {"evaluate", "register"}:
        shards_path = str(find_stage(workspace, "shards", out["shards"]))
        metrics = evaluate_task(out["run_dir"], shards_path)
        out["eval"] = metrics
        m, u = metrics["model"], metrics["unigram"]
        logger.info(
            "evaluate: val ppl %.2f (bpb %.3f) vs unigram baseline ppl %.2f (bpb %.3f)",
            m["ppl"],
            m["bpb"],
            u["ppl"],
            u["bpb"],
        )
    if "register" in wanted:
        from lmforge.flows.register import register_flow

        reg = register_flow(
            workspace=workspace,
            run_dir=out["run_dir"],
            shards_id=out["shards"],
            config_path=config_path,
            overrides=overrides,
        )
        out["model"] = reg
        logger.info("register: %s version %s, aliases %s", reg["model_name"], reg["version"], reg["aliases"])
    return out


def _latest(workspace: str, kind: str) -> str:
    from lmforge.pipeline.errors import NotFoundError
    from lmforge.pipeline.stage import latest_stage

    found = latest_stage(workspace, kind)
    if found is None:
        raise NotFoundError(f"no finished {kind} in {workspace}: run the earlier stages first (e.g. --stages curate)")
    return found.name
