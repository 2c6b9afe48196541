"""Backfill: one top-level `lmforge-run` flow run per date partition, idempotent and resumable.

Partitions run in date order. With `concurrency` K > 1, K partitions run at a time (threads, each its own flow
run): faster, but a partition sees another running with it in the dedup index only once that one has finished
(snapshots are checked against the index and added to it one at a time), so which copy of a cross-day duplicate is
kept may depend on timing; one copy is. K = 1 is the deterministic mode: every partition is deduplicated against
all earlier days, and the earliest copy always wins.

A partition is done when its marker exists under `<ws>/backfill/` (written after success, ids and counts only)
and still holds: the outputs it names exist, and they are the ones the partition's files and the config make now
(its snapshot, and its tokenizer, shards and run when the stages reach them). A re-run skips those and runs the
rest, so files that landed or changed after a day was done are curated, and a day trained with another config again.
Whatever that check meets (a damaged marker, a manifest that is not JSON) is its day's alone: the day runs again,
with a warning, and fails by itself (naming the file) when the damage is still in its way.

A marker keeps every stage done for its day: a run of fewer stages on the same outputs (the daily `curate-latest`
deployment, a curate-only backfill) adds to it rather than forgetting the tokenizer, shards or model of a run of
more, which a later backfill of those stages would then have run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmforge.flows.progress import progress_bar
from lmforge.pipeline.partitions import (
    Partition,
    changed_output,
    check_writable,
    covers,
    describe_days,
    marker_path,
    missing_days,
    missing_outputs,
    read_marker,
    select_partitions,
    write_marker,
)

if TYPE_CHECKING:
    from lmforge.pipeline.config import LmforgeConfig

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
    note: str | None = None
    """Why a day that had run before ran again (a damaged marker, outputs gone, files or config changed)."""


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
    write_marker(workspace, day, _with_earlier_stages(read_marker(workspace, day), record))
    return record


#: The marker keys each stage writes (besides `stages` and `flow_run_id`).
_STAGE_KEYS = {
    "curate": ("snapshot", "docs_in", "kept", "duplicates_removed"),
    "tokenizer": ("tokenizer",),
    "shards": ("shards",),
    "train": ("run", "mlflow_run_id"),
    "evaluate": (),
    "register": ("model",),
}


def _with_earlier_stages(earlier: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """`record` plus the stages `earlier` (the day's marker before this run) holds beyond it, when this run made the
    same outputs as far as it went: curating a trained day again keeps its tokenizer, shards and model, whose chain
    still holds. A run that made another output (new files, another config) starts the marker anew."""
    if earlier is None or _damage(earlier) is not None:
        return record
    outputs = ("snapshot", "tokenizer", "shards", "run")
    if any(key in record and key in earlier and record[key] != earlier[key] for key in outputs):
        return record
    merged = dict(record)
    extra = [s for s in earlier["stages"] if s in _STAGE_KEYS and s not in record["stages"]]
    for stage in extra:
        merged.update({key: earlier[key] for key in _STAGE_KEYS[stage] if key in earlier and key not in record})
    merged["stages"] = sorted({*record["stages"], *extra})
    return merged


def _damage(marker: dict[str, Any]) -> str | None:
    """What makes a marker that parsed unlike any `record_partition` writes (edited by hand, an older lmforge's)."""
    stages = marker.get("stages")
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        return f"its stages are {stages!r}, not a list of stage names"
    for key in ("snapshot", "tokenizer", "shards", "run"):
        if key in marker and not isinstance(marker[key], str):
            return f"its {key} is {marker[key]!r}, not an id"
    for key in ("docs_in", "kept", "duplicates_removed"):
        if key in marker and (not isinstance(marker[key], int) or isinstance(marker[key], bool)):
            return f"its {key} is {marker[key]!r}, not a count"
    return None


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
        notes: dict[str, str] = {}  # day → why it runs again

        def finish(outcome: PartitionOutcome) -> None:
            outcome.note = outcome.note or notes.get(outcome.day)
            report.outcomes.append(outcome)
            log.info("backfill %s: %s", outcome.day, outcome.status)
            if on_outcome:
                on_outcome(outcome)
            if bar:
                bar.update(1)

        todo = []
        for part in parts:
            marker, again = _done_marker(part, ws, cfg, stages)
            if marker is not None:
                finish(_skipped(part, marker))
                continue
            if again:
                notes[part.day.isoformat()] = f"ran again: {again}"
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


def _done_marker(
    part: Partition, workspace: str, cfg: LmforgeConfig, stages: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """(the marker, None) when `part` is done for `stages` (module docstring); else (None, why it runs again), the
    why None for a day that never ran these stages. A damaged marker, or an error telling whether the day is done,
    is the day's alone: it runs again, with a warning naming the file, rather than stopping every other day."""
    day, path = part.day, marker_path(workspace, part.day)
    marker = read_marker(workspace, day)
    damage = "it is not valid JSON, or not a marker" if marker is None else _damage(marker)
    if damage is not None:
        if marker is None and not path.exists():
            return None, None
        why = f"its marker {path} is damaged ({damage})"
        log.warning("backfill %s: %s: running it again", day, why)
        return None, why
    if not covers(marker, stages):
        return None, None
    try:
        gone = missing_outputs(workspace, marker)
        changed = None if gone else changed_output(part, workspace, cfg, marker, stages)
    except Exception as exc:  # noqa: BLE001 - a damaged manifest: the day's run meets it again and says so
        why = f"cannot tell whether it is done ({type(exc).__name__}: {exc})"
        log.warning("backfill %s: %s: running it again", day, why)
        return None, why
    if gone:
        why = f"its marker names {', '.join(gone)}, gone from the workspace"
        log.info("backfill %s: %s: running it again", day, why)
        return None, why
    if changed is not None:
        why = f"its files or the config changed since it was done ({changed})"
        log.warning("backfill %s: %s: running it again", day, why)
        return None, why
    return marker, None


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
