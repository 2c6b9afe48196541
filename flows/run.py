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
from lmforge.pipeline.config import LmforgeConfig, load_config
from lmforge.pipeline.stage import find_stage, is_done, stage_dir
from lmforge.pipeline.tokenize.shards import plan_shards
from lmforge.pipeline.tokenize.trainer import tokenizer_id
from lmforge.pipeline.train.launch import plan_run
from lmforge.pipeline.train.trainer import Trainer

STAGES = ("curate", "tokenizer", "shards", "train", "evaluate", "register")


@task(name="default-corpus")
def default_corpus_task(workspace: str, max_mb: float | None) -> list[str]:
    """Materialise the built-in corpus once per workspace and size cap (it is deterministic for a given environment);
    another `--corpus-mb` builds it again (it was silently the old one)."""
    from lmforge.pipeline.corpus.default import DEFAULT_MAX_MB, build_default_corpus

    out = Path(workspace) / "corpus"
    marker = out / ".complete"
    made = f"max_mb {max_mb or DEFAULT_MAX_MB:g}\n"
    if not marker.is_file() or marker.read_text(encoding="utf-8", errors="replace") != made:
        marker.unlink(missing_ok=True)
        build_default_corpus(out, max_mb=max_mb or DEFAULT_MAX_MB)
        marker.write_text(made, encoding="utf-8")
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
    if not workspace or (not Path(workspace).is_absolute() and _deployed()):
        require_absolute("workspace", workspace)
    if _deployed():  # given at trigger time: a relative one would read the worker's checkout (its working folder)
        for value in inputs or ():
            named = "=" in value and not Path(value).is_absolute()  # NAME=PATH
            require_absolute("inputs", value.partition("=")[2] if named else value)
        if config_path is not None:
            require_absolute("config_path", config_path)
    from lmforge.pipeline.errors import ConfigError

    # The CLI checks the names too, but a deployment's run (`run`, parameters given at trigger time) does not pass
    # through it: `["curate", "trian"]` curated and reported success, with no model and no word of why.
    if stages is not None and not stages:  # an empty list is a mistake (an unset variable, a filter gone too far)
        raise ConfigError(f"stages: no stage given; choose from {list(STAGES)}, or leave it out to run them all")
    unknown = sorted(set(stages or ()) - set(STAGES))
    if unknown:
        raise ConfigError(f"stages: unknown stage(s) {unknown}; choose from {list(STAGES)}")
    logger = get_run_logger()
    cfg = load_config(config_path, overrides)
    wanted = set(stages if stages is not None else STAGES)
    out: dict[str, Any] = {"workspace": workspace}

    if "curate" in wanted:
        if not inputs:
            inputs = default_corpus_task(workspace, corpus_mb)
            logger.info("no inputs given: using the built-in default corpus in %s", inputs[0])
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
        out["snapshot"] = _snapshot_of(workspace, inputs, cfg)
    if "tokenizer" in wanted:
        tok_dir = tokenizer_flow(snapshot=out["snapshot"], workspace=workspace, config=cfg.tokenizer)
        out["tokenizer"] = Path(tok_dir).name
    elif wanted & {"shards", "train", "evaluate", "register"}:
        out["tokenizer"] = _existing(workspace, "tokenizers", tokenizer_id(out["snapshot"], cfg.tokenizer), "tokenizer")
    if "shards" in wanted:
        shards_dir = shards_flow(
            snapshot=out["snapshot"], tokenizer=out["tokenizer"], workspace=workspace, config=cfg.shards
        )
        out["shards"] = Path(shards_dir).name
    elif wanted & {"train", "evaluate", "register"}:
        plan = plan_shards(
            find_stage(workspace, "snapshots", out["snapshot"]),
            find_stage(workspace, "tokenizers", out["tokenizer"]),
            Path(workspace),
            cfg.shards,
        )
        out["shards"] = _existing(workspace, "shards", plan.id, "shards")
    if "train" in wanted:
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
    elif wanted & {"evaluate", "register"}:
        run = plan_run(workspace, out["shards"], cfg.train)
        _existing(workspace, "runs", run.run_id, "train")
        out["run_dir"] = str(run.run_dir)
        out["mlflow_run_id"] = Trainer.read_run_json(Path(out["run_dir"])).get("mlflow_run_id")
    if "evaluate" in wanted:  # not for `register` alone: it evaluates the packaged model itself
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


def _snapshot_of(workspace: str, inputs: list[str] | None, cfg: LmforgeConfig) -> str:
    """Without the curate stage: the snapshot of `inputs` (with this config) when given, else the latest one."""
    if not inputs:
        return _latest(workspace, "snapshots")
    from lmforge.pipeline.curate.snapshot import make_plan

    return _existing(workspace, "snapshots", make_plan(inputs, workspace, cfg).snapshot_id, "curate")


def _existing(workspace: str, kind: str, id_: str, stage: str) -> str:
    """A stage left out of `--stages` is taken from the workspace, never run: its output must be there."""
    from lmforge.pipeline.errors import NotFoundError

    if not is_done(stage_dir(workspace, kind, id_)):
        raise NotFoundError(
            f"no finished {kind} {id_} in {workspace} for these inputs and config: add {stage!r} to --stages "
            "(or run the earlier stages first)"
        )
    return id_


def _latest(workspace: str, kind: str) -> str:
    from lmforge.pipeline.errors import NotFoundError
    from lmforge.pipeline.stage import latest_stage

    found = latest_stage(workspace, kind)
    if found is None:
        raise NotFoundError(f"no finished {kind} in {workspace}: run the earlier stages first (e.g. --stages curate)")
    return found.name


def _deployed() -> bool:
    from prefect.runtime import deployment

    return deployment.id is not None


def require_absolute(name: str, value: str) -> None:
    """A deployment's flow run starts in its pull step's folder (this checkout): a relative path, or the empty one
    an unset `{{ $LMFORGE_… }}` of prefect.yaml leaves, would read and write there instead."""
    from lmforge.pipeline.errors import ConfigError

    if not value or not Path(value).is_absolute():
        raise ConfigError(
            f"{name}: {value!r} is not an absolute path; a deployment needs absolute paths its worker can see "
            "(`lmforge deploy` resolves them; for `prefect deploy --all` set LMFORGE_WORKSPACE and LMFORGE_INPUT_ROOT)"
        )
