"""Date-partitioned inputs (`ROOT/date=YYYY-MM-DD/`) and the per-partition markers that make a backfill resumable.

A marker is written only after a partition's run succeeded, atomically, and holds ids and counts only (never
text), so a crashed backfill re-run skips exactly the partitions that finished.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmforge.pipeline.errors import ConfigError, InputError

if TYPE_CHECKING:
    from lmforge.pipeline.config import LmforgeConfig

PARTITION_RE = re.compile(r"^date=(\d{4}-\d{1,2}-\d{1,2})$")
MARKER_FORMAT = "lmforge.backfill-marker"
MARKER_VERSION = 1


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One date partition: its day and its folder."""

    day: date
    path: Path

    @property
    def name(self) -> str:
        return f"date={self.day.isoformat()}"


def parse_day(value: str, option: str) -> date:
    """`YYYY-MM-DD` → date; anything else is a ConfigError naming the option."""
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not a date; write it as YYYY-MM-DD (e.g. 2026-01-31)") from None


def list_partitions(root: str | Path) -> list[Partition]:
    """Every `date=YYYY-MM-DD` folder directly under `root`, in date order. Folders whose date is invalid
    (`date=2026-02-30`) or not zero-padded (`date=2026-1-5`) are an InputError rather than silently ignored."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "input root is not a folder; expected ROOT/date=YYYY-MM-DD/ folders of input files")
    found = []
    for child in root.iterdir():
        m = PARTITION_RE.match(child.name)
        if not m or not child.is_dir():
            continue
        try:
            day = datetime.strptime(m.group(1), "%Y-%m-%d").date()
        except ValueError:
            raise InputError(child, "partition folder name is not a valid date (expected date=YYYY-MM-DD)") from None
        if m.group(1) != day.isoformat():
            raise InputError(child, f"partition folder name is not date=YYYY-MM-DD; rename it date={day.isoformat()}")
        found.append(Partition(day, child))
    return sorted(found)


def _describe(parts: list[Partition]) -> str:
    return describe_days([p.day.isoformat() for p in parts])


def describe_days(days: list[str], limit: int = 6) -> str:
    """`days` listed, or the first and last few of them when there are many."""
    if len(days) <= limit:
        return ", ".join(days)
    half = limit // 2
    return f"{', '.join(days[:half])}, … ({len(days) - limit} more) …, {', '.join(days[-half:])}"


def select_partitions(root: str | Path, start: date, end: date) -> list[Partition]:
    """The partitions with start <= day <= end, in date order; an empty range says which dates exist."""
    if start > end:
        raise ConfigError(f"--from {start.isoformat()} is after --to {end.isoformat()}; swap them")
    every = list_partitions(root)
    chosen = [p for p in every if start <= p.day <= end]
    if not chosen:
        have = _describe(every) if every else "none (no date=YYYY-MM-DD folders)"
        raise InputError(
            root, f"no date partitions between {start.isoformat()} and {end.isoformat()}; dates present: {have}"
        )
    return chosen


def missing_days(parts: list[Partition], start: date, end: date) -> list[date]:
    """The days in [start, end] with no partition folder (gaps the backfill cannot run)."""
    have = {p.day for p in parts}
    return [d for d in (start + timedelta(days=i) for i in range((end - start).days + 1)) if d not in have]


def latest_partitions(root: str | Path, count: int = 1) -> list[Partition]:
    """The newest `count` partitions (date order), for scheduled runs over 'the newest data'."""
    if count < 1:
        raise ConfigError(f"days: must be >= 1, got {count}")
    every = list_partitions(root)
    if not every:
        raise InputError(root, "no date=YYYY-MM-DD partition folders found")
    return every[-count:]


def marker_path(workspace: str | Path, day: date) -> Path:
    return Path(workspace) / "backfill" / f"date={day.isoformat()}.json"


def read_marker(workspace: str | Path, day: date) -> dict[str, Any] | None:
    """The marker of a finished partition, or None; an unreadable marker counts as not done (it is rewritten)."""
    path = marker_path(workspace, day)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing or unreadable; ValueError: truncated, not JSON, or not UTF-8
        return None
    return data if isinstance(data, dict) and data.get("format") == MARKER_FORMAT else None


def covers(marker: dict[str, Any] | None, stages: list[str]) -> bool:
    """A marker skips a partition only when it recorded every stage asked for now."""
    return marker is not None and set(stages) <= set(marker.get("stages", []))


#: Marker keys naming stage outputs, and the workspace folder each lives in.
_MARKED_OUTPUTS = (("snapshot", "snapshots"), ("tokenizer", "tokenizers"), ("shards", "shards"), ("run", "runs"))


def missing_outputs(workspace: str | Path, marker: dict[str, Any]) -> list[str]:
    """The stage outputs a marker names that the workspace no longer holds finished (deleted to run the day again,
    or to free space): such a day is not done, whatever its marker says."""
    from lmforge.pipeline.stage import is_done, stage_dir

    # A run folder counts as a stage output too: one left without its manifest (its checkpoints deleted to free
    # space, say) is no finished model, though the folder is still there.
    return [
        f"{kind} {marker[key]}"
        for key, kind in _MARKED_OUTPUTS
        if isinstance(marker.get(key), str) and not is_done(stage_dir(workspace, kind, marker[key]))
    ]


def partition_snapshot(part: Partition, workspace: str | Path, config: LmforgeConfig) -> str:
    """The id of the snapshot curating `part` would make now (digests of its files + the curation params): a marker
    naming another snapshot is out of date (files added or changed after the day was done, or another config)."""
    from lmforge.pipeline.curate.snapshot import make_plan

    return make_plan([str(part.path)], workspace, config, warn=False).snapshot_id


def changed_output(
    part: Partition, workspace: str | Path, config: LmforgeConfig, marker: dict[str, Any], stages: list[str]
) -> str | None:
    """The first output named by `marker` that running `stages` on `part` would not make now, said as `kind old
    (now new)`; None when all still hold. Not the snapshot only: a changed `[tokenizer]`, `[shards]` or `[train]`
    section leaves the snapshot as it was, and a day done with the old one was skipped for ever with
    `--stages …,train`. Needs the outputs the marker names (`missing_outputs` is empty)."""
    from lmforge.pipeline.stage import stage_dir
    from lmforge.pipeline.tokenize.shards import plan_shards
    from lmforge.pipeline.tokenize.trainer import tokenizer_id
    from lmforge.pipeline.train.launch import plan_run

    wanted = set(stages)
    snapshot = partition_snapshot(part, workspace, config)
    if snapshot != marker.get("snapshot"):
        return f"snapshot {marker.get('snapshot')} (now {snapshot})"
    # Each id is computed from the outputs before it, once they matched (so the marker's are the ones to read).
    if not wanted & {"tokenizer", "shards", "train", "evaluate", "register"}:
        return None
    tokenizer = tokenizer_id(snapshot, config.tokenizer)
    if tokenizer != marker.get("tokenizer"):
        return f"tokenizer {marker.get('tokenizer')} (now {tokenizer})"
    if not wanted & {"shards", "train", "evaluate", "register"}:
        return None
    tokenizer_dir = stage_dir(workspace, "tokenizers", tokenizer)
    shards = plan_shards(stage_dir(workspace, "snapshots", snapshot), tokenizer_dir, Path(workspace), config.shards).id
    if shards != marker.get("shards"):
        return f"shards {marker.get('shards')} (now {shards})"
    if not wanted & {"train", "evaluate", "register"}:
        return None
    run = plan_run(workspace, shards, config.train).run_id
    if run != marker.get("run"):
        return f"run {marker.get('run')} (now {run})"
    return None


def check_writable(workspace: str | Path) -> None:
    """Fail before any run when the markers (and so the workspace) cannot be written, rather than after curating."""
    folder = marker_path(workspace, date.min).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".marker-", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ConfigError(
            f"--workspace {workspace}: cannot write to {folder} ({exc.strerror or exc}); give a writable folder"
        ) from None


def write_marker(workspace: str | Path, day: date, record: dict[str, Any]) -> Path:
    """Write the marker atomically (temp file + rename); `record` must hold ids and counts only."""
    path = marker_path(workspace, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": MARKER_FORMAT, "format_version": MARKER_VERSION, "date": day.isoformat(), **record}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".marker-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(body, f, sort_keys=True, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)
    return path
