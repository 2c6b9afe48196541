"""Backfill: one top-level `lmforge-run` flow run per date partition, idempotent and resumable.

Partitions run in date order. With `concurrency` K > 1, K partitions run at a time (threads, each its own flow
run): faster, but partitions that run together cannot see each other's documents in the dedup index, so which
copy of a cross-day duplicate is kept may depend on timing. K = 1 is the deterministic mode: every partition is
deduplicated against all earlier days, and the earliest copy always wins.

A partition is done when its marker exists under `<ws>/backfill/` (written after success, ids and counts only)
and still holds: the outputs it names exist, and they are the ones the partition's files and the config make now
(its snapshot, and its tokenizer, shards and run when the stages reach them). A re-run skips those and runs the
rest, so files that landed or changed after a day was done are curated, and a day trained with another config again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from lmforge.flows.progress import progress_bar
from lmforge.pipeline.partitions import (
    Partition,
    changed_output,
    check_writable,
    covers,
    describe_days,
    missing_days,
    missing_outputs,
    read_marker,
    select_partitions,
    write_marker,
)

log = logging.getLogger(__name__)

DEFAULT_STAGES = ("curate",)


@dataclass(slots=True)
class PartitionOutcome:
    """What happened to one partition (counts and ids only)."""

    day: str
    status: str
    """done (ran now), skipped (marker found) or failed."""
    snapshot: str | None = None
    docs_in: int = 0
    kept: int = 0
    duplicates_removed: int = 0
    flow_run_id: str | None = None
    error: str | None = None


@dataclass(slots=True)
class BackfillReport:
    outcomes: list[PartitionOutcome] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Days in the range with no partition folder: nothing ran for them."""

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "missing": self.missing,
            "partitions": [asdict(o) for o in self.outcomes],
        }


def snapshot_counts(workspace: str | Path, snapshot_id: str) -> dict[str, int]:
    """docs in / kept / duplicates removed (exact + near, including matches in the persistent index)."""
    from lmforge.pipeline.stage import find_stage
    from lmforge.schemas.manifest import Manifest

    stats = Manifest.read(find_stage(workspace, "snapshots", snapshot_id)).stats
    dedup = stats.get("dedup") or {}
    return {
        "docs_in": int(stats.get("docs_in", 0)),
        "kept": int(stats.get("kept", 0)),
        "duplicates_removed": int(dedup.get("exact_duplicate", 0)) + int(dedup.get("near_duplicate", 0)),
    }


def record_partition(
    workspace: str | Path, day: date, stages: list[str], result: dict[str, Any], flow_run_id: str | None
) -> dict[str, Any]:
    """Write the marker of a finished partition from a `run_flow` result (ids and counts, never text)."""
    record: dict[str, Any] = {"stages": sorted(stages), "flow_run_id": flow_run_id}
    for key in ("snapshot", "tokenizer", "shards", "mlflow_run_id"):
        if result.get(key):
            record[key] = result[key]
    if result.get("run_dir"):
        record["run"] = Path(result["run_dir"]).name
    model = result.get("model")
    if isinstance(model, dict):  # `register_flow`'s result: its keys, renamed to the marker's
        names = {"model_name": "name", "version": "version", "model_uri": "uri"}
        record["model"] = {short: model[key] for key, short in names.items() if key in model}
    if record.get("snapshot"):
        record.update(snapshot_counts(workspace, record["snapshot"]))
    write_marker(workspace, day, record)
    return record


def _run_partition(
    part: Partition, workspace: str, stages: list[str], config_path: str | None, index: str | None, nproc: int | None
) -> PartitionOutcome:
    from lmforge.flows.run import run_flow

    flow_fn = run_flow.with_options(flow_run_name=f"backfill-{part.day.isoformat()}")
    state = flow_fn(
        workspace=workspace,
        inputs=[str(part.path)],
        config_path=config_path,
        index=index,
        nproc=nproc,
        stages=stages,
        return_state=True,
    )
    run_id = str(state.state_details.flow_run_id) if state.state_details.flow_run_id else None
    if not state.is_completed():
        exc = state.result(raise_on_failure=False)
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else (state.message or state.name)
        return PartitionOutcome(part.day.isoformat(), "failed", flow_run_id=run_id, error=str(reason)[:300])
    record = record_partition(workspace, part.day, stages, state.result(), run_id)
    return _from_marker(part, "done", {**record, "flow_run_id": run_id})


def _skipped(part: Partition, marker: dict[str, Any]) -> PartitionOutcome:
    return _from_marker(part, "skipped", marker)


def _from_marker(part: Partition, status: str, marker: dict[str, Any]) -> PartitionOutcome:
    """The outcome a partition marker (ids and counts) describes."""
    return PartitionOutcome(
        part.day.isoformat(),
        status,
        snapshot=marker.get("snapshot"),
        docs_in=marker.get("docs_in", 0),
        kept=marker.get("kept", 0),
        duplicates_removed=marker.get("duplicates_removed", 0),
        flow_run_id=marker.get("flow_run_id"),
    )


def backfill(
    input_root: str | Path,
    start: date,
    end: date,
    workspace: str | Path,
    *,
    stages: list[str] | None = None,
    concurrency: int = 1,
    config_path: str | None = None,
    index: str | None = None,
    nproc: int | None = None,
    on_outcome: Callable[[PartitionOutcome], None] | None = None,
) -> BackfillReport:
    """Run every partition in [start, end] that is not done yet (module docstring), K at a time."""
    from lmforge.flows.api import check_api
    from lmforge.flows.commands.common import RUN_STAGES
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.errors import ConfigError

    if concurrency < 1:
        raise ConfigError(f"--concurrency: must be >= 1, got {concurrency}")
    # an empty list is no stage, not the default (it curated); an unknown name failed every day's flow run one by one
    stages = list(DEFAULT_STAGES if stages is None else stages)
    unknown = sorted(set(stages) - set(RUN_STAGES))
    if unknown:
        raise ConfigError(f"--stages: unknown stage(s) {unknown}; choose from {list(RUN_STAGES)}")
    if "curate" not in stages:
        raise ConfigError("--stages: a backfill curates each partition, so the stages must include 'curate'")
    parts = select_partitions(input_root, start, end)
    cfg = load_config(config_path)
    missing = [d.isoformat() for d in missing_days(parts, start, end)]
    if missing:
        log.warning(
            "backfill: no partition folder for %d day(s) in the range: %s", len(missing), describe_days(missing)
        )
    if check_api() is None and concurrency > 1:
        _start_embedded_api()
    ws = str(Path(workspace))
    report = BackfillReport(missing=missing)
    with progress_bar(len(parts), "backfill", "day") as bar:

        def finish(outcome: PartitionOutcome) -> None:
            report.outcomes.append(outcome)
            log.info("backfill %s: %s", outcome.day, outcome.status)
            if on_outcome:
                on_outcome(outcome)
            if bar:
                bar.update(1)

        todo = []
        for part in parts:
            marker = read_marker(ws, part.day)
            if covers(marker, stages):
                gone = missing_outputs(ws, marker)
                changed = None if gone else changed_output(part, ws, cfg, marker, stages)
                if not gone and changed is None:
                    finish(_skipped(part, marker))
                    continue
                if gone:
                    log.info(
                        "backfill %s: its marker names %s, gone from the workspace: running it again", part.day, gone
                    )
                else:
                    log.warning(
                        "backfill %s: its files or the config changed since it was done (%s): running it again",
                        part.day,
                        changed,
                    )
            todo.append(part)
        if todo:
            check_writable(ws)
        if concurrency == 1:
            for part in todo:
                finish(_guarded(part, ws, stages, config_path, index, nproc))
        else:
            _run_concurrently(todo, concurrency, finish, ws, stages, config_path, index, nproc)
    report.outcomes.sort(key=lambda o: o.day)
    return report


def _start_embedded_api() -> None:
    """Start the embedded API once, before K threads would all race to start it."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()


def _guarded(part: Partition, *args: Any) -> PartitionOutcome:
    """A partition that raises outside its flow (e.g. the API went away) fails alone; the backfill carries on."""
    try:
        return _run_partition(part, *args)
    except Exception as exc:  # noqa: BLE001 - reported per partition in the summary
        return PartitionOutcome(part.day.isoformat(), "failed", error=f"{type(exc).__name__}: {exc}"[:300])


def _run_concurrently(todo: list[Partition], k: int, finish: Callable[[PartitionOutcome], None], *args: Any) -> None:
    """Submit in date order, at most k in flight, so earlier days still start (and mostly finish) first."""
    pending: set[Future] = set()
    queue = list(todo)
    with ThreadPoolExecutor(max_workers=k, thread_name_prefix="backfill") as pool:
        while queue or pending:
            while queue and len(pending) < k:
                pending.add(pool.submit(_guarded, queue.pop(0), *args))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                finish(fut.result())
