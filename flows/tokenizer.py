"""Prefect flows for the tokenizer and the token shards: thin wrappers over `lmforge.pipeline.tokenize`.

Tasks carry paths, ids and counts only (DESIGN.md): no document text reaches Prefect's database. The tokenizer
report holds counts and vocabulary pieces, which are not document text.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.futures import wait

from lmforge.pipeline.stage import find_stage
from lmforge.pipeline.tokenize.config import ShardsConfig, TokenizerConfig
from lmforge.pipeline.tokenize.report import report_markdown, tokenizer_report
from lmforge.pipeline.tokenize.shards import ShardsPlan, Unit, assemble_shards, encode_unit, encoders, plan_shards
from lmforge.pipeline.tokenize.trainer import train_tokenizer
from lmforge.schemas.manifest import Manifest


@task(name="train-tokenizer")
def train_tokenizer_task(snapshot_dir: str, workspace: str, config: TokenizerConfig) -> str:
    return str(train_tokenizer(Path(snapshot_dir), Path(workspace), config))


@task(name="tokenizer-report")
def tokenizer_report_task(tokenizer_dir: str, snapshot_dir: str) -> dict:
    return tokenizer_report(Path(tokenizer_dir), Path(snapshot_dir))


@flow(name="tokenizer")
def tokenizer_flow(snapshot: str, workspace: str = "workspace", config: TokenizerConfig | None = None) -> str:
    """Train (or find) the tokenizer for a snapshot id and publish its report as a Markdown artifact."""
    log = get_run_logger()
    config = config or TokenizerConfig()
    snapshot_dir = find_stage(workspace, "snapshots", snapshot)
    tokenizer_dir = train_tokenizer_task(str(snapshot_dir), workspace, config)
    report = tokenizer_report_task(tokenizer_dir, str(snapshot_dir))
    create_markdown_artifact(
        markdown=report_markdown(report),
        key="tokenizer-report",
        description=f"tokenizer {Path(tokenizer_dir).name} on held-out documents of snapshot {snapshot_dir.name}",
    )
    log.info(
        "tokenizer %s (vocab %d) for snapshot %s", Path(tokenizer_dir).name, report["vocab_size"], snapshot_dir.name
    )
    for warning in report["warnings"]:  # counts and config names only
        log.warning("tokenizer %s: %s", Path(tokenizer_dir).name, warning)
    return tokenizer_dir


@task(name="plan-shards")
def plan_shards_task(snapshot_dir: str, tokenizer_dir: str, workspace: str, config: ShardsConfig) -> ShardsPlan:
    return plan_shards(Path(snapshot_dir), Path(tokenizer_dir), Path(workspace), config)


@task(name="encode-unit", task_run_name="encode-{unit.name}", retries=1)
def encode_unit_task(plan: ShardsPlan, unit: Unit, threads: int = 1) -> dict[str, int]:
    return encode_unit(plan, unit, threads)


@task(name="assemble-shards")
def assemble_shards_task(plan: ShardsPlan) -> str:
    return str(assemble_shards(plan))


@flow(name="shards")
def shards_flow(snapshot: str, tokenizer: str, workspace: str = "workspace", config: ShardsConfig | None = None) -> str:
    """Encode a snapshot with a tokenizer into token shards: one task per snapshot file row group, then assembly."""
    log = get_run_logger()
    config = config or ShardsConfig()
    snapshot_dir = find_stage(workspace, "snapshots", snapshot)
    tokenizer_dir = find_stage(workspace, "tokenizers", tokenizer)
    plan = plan_shards_task(str(snapshot_dir), str(tokenizer_dir), workspace, config)
    if plan.done:
        log.info("shards %s already built", plan.id)
        return plan.out_dir
    # sentencepiece releases the GIL while it encodes, so thread-runner tasks run in parallel; with fewer units
    # than cores its own threads use the rest
    _, threads = encoders(os.cpu_count() or 1, len(plan.units))
    futures = encode_unit_task.map(unmapped(plan), plan.units, unmapped(threads))
    wait(futures)
    for f in futures:
        f.result()  # raise the first failure
    out = assemble_shards_task(plan)
    stats = Manifest.read(out).stats
    lines = ["| split | shards | docs | tokens | bytes |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [
        f"| {s} | {v['shards']} | {v['docs']} | {v['tokens']} | {v['bytes']} |" for s, v in stats["splits"].items()
    ]
    create_markdown_artifact(
        markdown=f"# Shards `{plan.id}`\n\nsnapshot `{plan.snapshot_id}`, tokenizer `{plan.tokenizer_id}`, "
        f"dtype {stats['dtype']}\n\n" + "\n".join(lines) + "\n",
        key="shards-summary",
        description=f"token shards {plan.id}",
    )
    log.info(
        "shards %s: %d units, %s tokens", plan.id, len(plan.units), {s: v["tokens"] for s, v in stats["splits"].items()}
    )
    return out
