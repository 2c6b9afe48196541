"""Assemble a curated snapshot from per-unit parts: dedup, validate, write data/rejects/duplicates + manifest.

The snapshot id is the digest of the input digests and the curation params, so the same inputs and config give
the same folder, and a finished folder makes a re-run a no-op.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmforge.pipeline.config import LmforgeConfig
from lmforge.pipeline.configuring import to_dict
from lmforge.pipeline.curate import workdir
from lmforge.pipeline.curate.inputs import InputUnit, location, plan_inputs, safe_name, unit_digest
from lmforge.pipeline.curate.process import UnitCurator, UnitResult
from lmforge.pipeline.errors import InputError, IntegrityError
from lmforge.pipeline.stage import building, is_done, stage_dir, stage_id, write_manifest
from lmforge.schemas.snapshot import (
    DUPLICATES_SCHEMA,
    REJECTS_SCHEMA,
    SNAPSHOT_FORMAT,
    SNAPSHOT_SCHEMA,
    validate_snapshot,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CurationPlan:
    """What a curate run will do: its units (with digests), its snapshot id and folders."""

    units: list[InputUnit]
    digests: list[str]
    snapshot_id: str
    snapshot_dir: Path
    work_dir: Path
    locations: list[str]
    """Where each unit is (`inputs.location`), as reject rows name it: a copy's own, not the first copy's `key`."""

    @property
    def done(self) -> bool:
        return is_done(self.snapshot_dir)


def curation_params(config: LmforgeConfig) -> dict[str, Any]:
    return {"curate": to_dict(config.curate), "privacy": to_dict(config.privacy), "dedup": to_dict(config.dedup)}


def make_plan(inputs: list[str], workspace: str | Path, config: LmforgeConfig, *, warn: bool = True) -> CurationPlan:
    units = plan_inputs(inputs, config.curate.text_extensions, warn=warn)
    digests = [unit_digest(u) for u in units]
    locations = [location(u) for u in units]
    units = _copies_named_alike(units, digests)
    unit_inputs = [
        {"source": u.source, "kind": u.kind, "path": u.path, "digest": d} for u, d in zip(units, digests, strict=True)
    ]
    sid = stage_id(
        {"units": sorted((x["source"], x["kind"], x["digest"]) for x in unit_inputs)}, curation_params(config)
    )
    ws = Path(workspace)
    return CurationPlan(
        units, digests, sid, stage_dir(ws, "snapshots", sid), ws / "snapshots" / ".work" / sid, locations
    )


def _copies_named_alike(units: list[InputUnit], digests: list[str]) -> list[InputUnit]:
    """Identical files of one source are one unit digest, curated once into one part (the flow may curate both at
    once, and either may write it): each copy takes the first copy's `key`, which names the records without an id,
    so the part is the same whichever copy wrote it, and the snapshot the same from run to run."""
    first: dict[str, str | None] = {}
    out = []
    for unit, d in zip(units, digests, strict=True):
        key = first.setdefault(d, unit.key)
        out.append(unit if key == unit.key else replace(unit, key=key))
    return out


def check_strict(results: Sequence[UnitResult]) -> None:
    """In strict mode the first malformed input fails the run, naming the file and line. Runs call it on each unit's
    result as it arrives, so a bad file stops the run before the units after it are curated."""
    for r in results:
        if r.first_input_error:  # "in/x.jsonl:2: bad input (strict mode): malformed_json …"
            where = r.first_input_error_at or r.unit["path"]
            raise InputError(where, f"bad input (strict mode): {r.first_input_error}")


def _check_unit_files(plan: CurationPlan, results: Sequence[UnitResult]) -> None:
    """Every part and rejects file the results name is there: one removed since its unit was curated (a cleaned-up
    work folder, a result cached elsewhere) would lose its documents from the accounting half-way through writing."""
    for unit, r in zip(plan.units, results, strict=True):
        for kind, f in r.missing_files().items():
            raise IntegrityError(
                f"{unit.path}: the curated {kind} file {f} is gone; run curate again to curate this input anew"
            )


def _removed_rows(table: pa.Table, dups: dict[str, tuple[str, float, str]]) -> list[dict[str, Any]]:
    rows = []
    for rec in table.to_pylist():
        dup_of, sim, reason = dups[rec["doc_id"]]
        rows.append(
            {
                "doc_id": rec["doc_id"],
                "source": rec["source"],
                "path": "",
                "line": None,
                "step": "dedup",
                "reason": reason,
                "detail": None,
                "text": rec["text"],
                "duplicate_of": dup_of,
                "similarity": sim,
            }
        )
    return rows


def finalize_snapshot(
    plan: CurationPlan,
    results: Sequence[UnitResult],
    config: LmforgeConfig,
    *,
    index_spec: str | None = None,
    signatures: Sequence[Path] | None = None,
) -> Path:
    """Dedup the parts, write the snapshot folder atomically, then add its documents to the dedup index. When the
    snapshot exists already (a re-run, or another run of the same snapshot that finished first while this one
    waited for it), only an index addition an earlier run did not finish is done (`index_pending`)."""
    try:
        with workdir.publishing(plan.work_dir):
            if plan.done:
                log.info("snapshot %s was published by another run of it; keeping that one", plan.snapshot_id)
                _add_pending(plan, config, index_spec)
            else:
                _publish(plan, results, config, index_spec, signatures)
    finally:
        workdir.release(plan.work_dir)  # nothing below reads the work folder: whoever finishes last removes it
    _remove_work(plan)
    return plan.snapshot_dir


def _publish(
    plan: CurationPlan,
    results: Sequence[UnitResult],
    config: LmforgeConfig,
    index_spec: str | None,
    signatures: Sequence[Path] | None,
) -> None:
    _check_unit_files(plan, results)
    # results are in plan order; a unit's own location, not its result's: identical files of one source share one
    originals = [(Path(r.part), where) for where, r in zip(plan.locations, results, strict=True) if r.part]
    parts, id_rejects = _unique_ids(originals, plan.work_dir / "unique")
    dups: dict[str, tuple[str, float, str]] = {}
    dedup_stats: dict[str, Any] = {}
    index = None
    if config.dedup.enabled and parts:
        from lmforge.pipeline.dedup.find import find_duplicates
        from lmforge.pipeline.dedup.index import open_index
        from lmforge.pipeline.dedup.signatures import compute_signatures

        sig_dir = plan.work_dir / "signatures"
        sig_dir.mkdir(parents=True, exist_ok=True)
        if signatures is None:
            signatures = [compute_signatures(p, config.dedup, sig_dir) for p in parts]
        else:  # a part that lost rows to `_unique_ids` needs its own signatures: the given ones still hold those rows
            signatures = [
                Path(sig) if part == original else compute_signatures(part, config.dedup, sig_dir)
                for sig, part, (original, _) in zip(signatures, parts, originals, strict=True)
            ]
        index = open_index(index_spec, plan.snapshot_dir.parent.parent, config.dedup)
        found = find_duplicates(parts, signatures, config.dedup, plan.work_dir / "dedup", index)
        dedup_stats = dict(found.stats)
        for row in found.duplicates.to_pylist():
            dups.setdefault(row["doc_id"], (row["duplicate_of"], float(row["similarity"]), row["reason"]))
    try:
        with building(plan.snapshot_dir) as tmp:
            stats = _write_snapshot(tmp, plan, results, parts, dups, id_rejects, config)
            stats["dedup"] = dedup_stats
            _report_unused_overrides(config, stats["by_source"])
            if index is not None:  # written before the snapshot is published, removed once the index holds it
                _write_atomically(plan.work_dir / PENDING, json.dumps([str(s) for s in signatures]))
            write_manifest(
                tmp,
                format=SNAPSHOT_FORMAT,
                id_=plan.snapshot_id,
                inputs={
                    # names and paths holding personal data are recorded redacted (`safe_name`): a folder named after
                    # an e-mail address is then not found by `lineage --verify`, but never leaves the machine
                    "units": [
                        {"source": safe_name(u.source), "kind": u.kind, "path": safe_name(u.path), "sha256": d}
                        for u, d in zip(plan.units, plan.digests, strict=True)
                    ],
                    # relative unit paths are relative to this folder: `lineage --verify` finds them from anywhere
                    "cwd": safe_name(os.getcwd()),
                },
                params=curation_params(config),
                stats=stats,
                counts=stats.pop("_counts"),
            )
        # Only a published snapshot goes into the index: documents of a batch that failed before this point (and
        # maybe is never re-run) would make later batches drop their copies as duplicates of nothing readable.
        if index is not None:
            index.add(signatures, _published_ids(plan.snapshot_dir))
            (plan.work_dir / PENDING).unlink()
    finally:
        if index is not None:
            index.close()


PENDING = "index-pending.json"
"""In the work folder: the signatures of a snapshot whose documents the dedup index does not hold yet."""


def index_pending(plan: CurationPlan, config: LmforgeConfig, index_spec: str | None) -> None:
    """Finish what a run stopped between publishing the snapshot and adding it to the index left undone (its work
    folder, signatures included, stays until the index holds the snapshot), then remove the work folder unless
    another run still uses it."""
    if not plan.work_dir.is_dir():  # nothing pending, nothing to remove
        return
    with workdir.publishing(plan.work_dir):
        _add_pending(plan, config, index_spec)
    workdir.release(plan.work_dir)
    _remove_work(plan)


def _add_pending(plan: CurationPlan, config: LmforgeConfig, index_spec: str | None) -> None:
    """`index_pending`'s addition, under the publishing lock."""
    pending = plan.work_dir / PENDING
    if not pending.is_file():
        return
    from lmforge.pipeline.dedup.index import open_index

    log.info("snapshot %s is published but not in the dedup index yet: adding it", plan.snapshot_id)
    index = open_index(index_spec, plan.snapshot_dir.parent.parent, config.dedup)
    try:
        index.add([Path(s) for s in json.loads(pending.read_text())], _published_ids(plan.snapshot_dir))
    finally:
        index.close()
    pending.unlink()


def _remove_work(plan: CurationPlan) -> None:
    """Remove the work folder of the published snapshot, and of any other published snapshot whose runs all ended
    before they could (another run still used it then, or a process that held it was killed)."""
    root = plan.work_dir.parent
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and (folder == plan.work_dir or _finished_work(folder, plan.snapshot_dir.parent)):
            workdir.remove_unused(folder)


def _finished_work(folder: Path, snapshots: Path) -> bool:
    """A work folder whose snapshot is published and in the dedup index (no `PENDING`: `index_pending` needs it)."""
    return is_done(snapshots / folder.name) and not (folder / PENDING).exists()


def _own_temporary(path: Path) -> Path:
    """A name beside `path` that no other run of the snapshot writes (its pid and a random tag): written there, then
    renamed onto `path` whole, so no run ever reads a file another is still writing."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def _write_atomically(path: Path, text: str) -> None:
    """A file cut short by a crash must not stand for the whole (`PENDING` is read by every later run)."""
    tmp = _own_temporary(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def _published_ids(snapshot_dir: Path) -> set[str]:
    return {
        d
        for path in sorted((snapshot_dir / "data").glob("*.parquet"))
        for d in pq.read_table(path, columns=["doc_id"]).column("doc_id").to_pylist()
    }


def _unique_ids(parts: list[tuple[Path, str]], out_dir: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """The same record id in two files of one source: the first occurrence wins, later ones become rejects
    (`duplicate_doc_id`) naming their input and the one that had the id first, so every later step can rely on
    unique doc_ids. `parts`: (part, where its input is: `inputs.location`). Rewrites only the affected parts."""
    first_in: dict[str, str] = {}  # doc_id → input path (one shared string per input)
    out, rejects = [], []
    for part, where in parts:
        ids = pq.read_table(part, columns=["doc_id"]).column("doc_id").to_pylist()
        clash = [d in first_in for d in ids]
        for d in ids:
            first_in.setdefault(d, where)
        if not any(clash):
            out.append(part)
            continue
        table = pq.read_table(part, schema=SNAPSHOT_SCHEMA)
        mask = pa.array(clash)
        for rec in table.filter(mask).to_pylist():
            rejects.append(
                {
                    "doc_id": rec["doc_id"],
                    "source": rec["source"],
                    "path": where,
                    "line": None,
                    "step": "read",
                    "reason": "duplicate_doc_id",
                    "detail": f"id already used in {first_in[rec['doc_id']]}",
                    "text": rec["text"],
                    "duplicate_of": rec["doc_id"],
                    "similarity": None,
                }
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        new = out_dir / part.name
        tmp = _own_temporary(new)  # never a half-written part where another run may look
        pq.write_table(table.filter(pc.invert(mask)), tmp, compression="zstd")
        os.replace(tmp, new)
        out.append(new)
    return out, rejects


def _write_snapshot(
    tmp: Path,
    plan: CurationPlan,
    results: Sequence[UnitResult],
    parts: list[Path],
    dups: dict[str, tuple[str, float, str]],
    id_rejects: list[dict[str, Any]],
    config: LmforgeConfig,
) -> dict[str, Any]:
    (tmp / "data").mkdir()
    (tmp / "rejects").mkdir()
    counts: dict[str, dict[str, int]] = {}
    kept_by_source: Counter = Counter()
    removed_by_source: dict[str, Counter] = defaultdict(Counter)
    langs: Counter = Counter()
    dup_ids = pa.array(sorted(dups), type=pa.string())
    for i, part in enumerate(parts):
        table = pq.read_table(part, schema=SNAPSHOT_SCHEMA)
        mask = pc.is_in(table.column("doc_id"), value_set=dup_ids)
        kept = table.filter(pc.invert(mask))
        removed = table.filter(mask)
        rel = f"data/part-{i:05d}.parquet"
        validate_snapshot(kept, where=f"{part} (→ {rel})")
        pq.write_table(kept, tmp / rel, compression="zstd", row_group_size=config.curate.row_group_rows)
        counts[rel] = {"rows": kept.num_rows}
        for src, n in Counter(kept.column("source").to_pylist()).items():
            kept_by_source[src] += n
        langs.update(kept.column("lang").to_pylist())
        if removed.num_rows:
            rows = _removed_rows(removed, dups)
            for r in rows:
                removed_by_source[r["source"]][r["reason"]] += 1
            rrel = f"rejects/dedup-{i:05d}.parquet"
            pq.write_table(pa.Table.from_pylist(rows, schema=REJECTS_SCHEMA), tmp / rrel, compression="zstd")
            counts[rrel] = {"rows": len(rows)}
    for j, r in enumerate(results):
        if r.rejects:
            rrel = f"rejects/unit-{j:05d}.parquet"
            shutil.copyfile(r.rejects, tmp / rrel)
            counts[rrel] = {"rows": pq.ParquetFile(tmp / rrel).metadata.num_rows}
    if id_rejects:
        pq.write_table(
            pa.Table.from_pylist(id_rejects, schema=REJECTS_SCHEMA), tmp / "rejects/doc-ids.parquet", compression="zstd"
        )
        counts["rejects/doc-ids.parquet"] = {"rows": len(id_rejects)}
        for r in id_rejects:
            removed_by_source[r["source"]][r["reason"]] += 1
    dup_rows = [
        {"doc_id": k, "duplicate_of": v[0], "similarity": v[1], "reason": v[2]} for k, v in sorted(dups.items())
    ]
    pq.write_table(
        pa.Table.from_pylist(dup_rows, schema=DUPLICATES_SCHEMA), tmp / "duplicates.parquet", compression="zstd"
    )
    counts["duplicates.parquet"] = {"rows": len(dup_rows)}
    return _stats(results, kept_by_source, removed_by_source, langs) | {"_counts": counts}


def _report_unused_overrides(config: LmforgeConfig, by_source: dict[str, Any]) -> None:
    """A `[curate.sources.NAME]` no document's source matched is most likely a typo that left the defaults on."""
    for name in sorted(set(config.curate.sources) - set(by_source)):
        log.warning(
            "[curate.sources.%s] matched no document's source (sources: %s)", name, ", ".join(sorted(by_source))
        )


def _stats(
    results: Sequence[UnitResult], kept_by_source: Counter, removed_by_source: dict[str, Counter], langs: Counter
) -> dict[str, Any]:
    """Counts only (DESIGN.md): documents in/kept/rejected per source and reason, languages, PII per type."""
    by_source: dict[str, dict[str, Any]] = {}
    by_reason: Counter = Counter()
    pii: Counter = Counter()
    pii_by_source: dict[str, Counter] = defaultdict(Counter)
    file_problems: Counter = Counter()
    for r in results:
        file_problems.update(r.file_problems)
        for src, n in r.docs_in.items():
            entry = by_source.setdefault(src, {"docs_in": 0, "kept": 0, "rejected": Counter()})
            entry["docs_in"] += n
        for src, reasons in r.rejected.items():
            by_source.setdefault(src, {"docs_in": 0, "kept": 0, "rejected": Counter()})["rejected"].update(reasons)
            by_reason.update(reasons)
        for src, types in r.pii.items():
            pii.update(types)
            pii_by_source[src].update(types)
    for src, reasons in removed_by_source.items():
        by_source.setdefault(src, {"docs_in": 0, "kept": 0, "rejected": Counter()})["rejected"].update(reasons)
        by_reason.update(reasons)
    for src, n in kept_by_source.items():
        by_source.setdefault(src, {"docs_in": 0, "kept": 0, "rejected": Counter()})["kept"] = n
    out_sources = {}
    for src, e in sorted(by_source.items()):
        rejected = dict(sorted(e["rejected"].items()))
        out_sources[src] = {"docs_in": e["docs_in"], "kept": e["kept"], "rejected": rejected}
        if e["docs_in"] != e["kept"] + sum(rejected.values()):
            raise IntegrityError(f"accounting mismatch for source {src!r}: {out_sources[src]}")
    return {
        "docs_in": sum(e["docs_in"] for e in out_sources.values()),
        "kept": sum(e["kept"] for e in out_sources.values()),
        "rejected": sum(by_reason.values()),
        "by_source": out_sources,
        "by_reason": dict(sorted(by_reason.items())),
        "by_lang": dict(sorted(langs.items())),
        "pii": dict(sorted(pii.items())),
        "pii_by_source": {s: dict(sorted(c.items())) for s, c in sorted(pii_by_source.items())},
        "file_problems": dict(sorted(file_problems.items())),
        "bytes_in": sum(r.bytes_in for r in results),
        "chars_kept": sum(r.chars_kept for r in results),
    }


def curate(
    inputs: list[str],
    workspace: str | Path,
    config: LmforgeConfig,
    *,
    strict: bool = False,
    index_spec: str | None = None,
    on_unit: Callable[[UnitResult], None] | None = None,
) -> Path:
    """The whole curation in one process (no Prefect): what the flow does, serially. Returns the snapshot folder."""
    plan = make_plan(inputs, workspace, config)
    if plan.done:
        log.info("snapshot %s exists; nothing to do", plan.snapshot_id)
        index_pending(plan, config, index_spec)
        return plan.snapshot_dir
    if config.dedup.enabled:  # an index the snapshot step would refuse is refused now, before the first file
        from lmforge.pipeline.dedup.index import check_index

        check_index(index_spec, plan.snapshot_dir.parent.parent, config.dedup)
    curator = UnitCurator(config)
    results: list[UnitResult] = []
    try:
        with workdir.using(plan.work_dir):  # another run that publishes the snapshot meanwhile leaves our parts be
            for unit, d in zip(plan.units, plan.digests, strict=True):
                if plan.done:  # another run of the same snapshot published it: it is the result of this one too
                    break
                results.append(curator.curate_unit(unit, d, plan.work_dir))
                if on_unit:
                    on_unit(results[-1])
                if strict:  # stop at the first bad file, not after curating all the others
                    check_strict(results[-1:])
    except BaseException:
        workdir.release(plan.work_dir)
        raise
    if len(results) < len(plan.units):
        log.info("snapshot %s was published by another run of it; keeping that one", plan.snapshot_id)
        index_pending(plan, config, index_spec)
        return plan.snapshot_dir
    return finalize_snapshot(plan, results, config, index_spec=index_spec)
