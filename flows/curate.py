"""The `curate` flow: one task per input unit, then dedup signatures per part, then the snapshot.

Tasks pass paths, ids and counts, never text (Prefect stores parameters, results and logs in its database).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.futures import as_completed

from lmforge.flows.progress import progress_bar
from lmforge.pipeline.config import LmforgeConfig, load_config
from lmforge.pipeline.curate.inputs import InputUnit, safe_name
from lmforge.pipeline.curate.process import UnitCurator, UnitResult, finished_result, unit_result_path
from lmforge.pipeline.curate.snapshot import check_strict, finalize_snapshot, index_pending, make_plan
from lmforge.pipeline.digest import digest
from lmforge.pipeline.stage import find_stage
from lmforge.schemas.manifest import Manifest

_CURATORS: dict[str, UnitCurator] = {}

_INDEX_TURN = threading.Lock()
"""Held while a snapshot is deduplicated against the index, written and added to it: curate flows running side by
side in one process (`lmforge backfill --concurrency K`) then each see the documents of the ones that finished
before, and a document two of them hold is kept once, not by both (each asked the index before the other added)."""


def _curator(config: LmforgeConfig) -> UnitCurator:
    """One curator (language model, filters, redactor) per config per process, reused across tasks."""
    key = digest(config.to_dict())
    if key not in _CURATORS:
        _CURATORS[key] = UnitCurator(config)
    return _CURATORS[key]


def _unit_cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """Unit digest + its work folder (named by the snapshot id, which covers the curation params, under one
    workspace): same file, same params, same workspace → the persisted result is reused.

    Only while the unit's files are on disk, though: a finished snapshot removes its work folder, and Prefect's
    records outlive it (in ws/.prefect, or on a server). Once the snapshot is deleted, a cached result would name
    parts that are gone; with no result file there is no key (Prefect neither looks up nor records one) and the
    unit runs again. Its outputs are deterministic, so a result cached under the key stays right whenever it holds.
    A result whose part or rejects file is gone (or that does not parse) is no result either (`finished_result`).
    """
    work_dir, unit_digest = parameters["work_dir"], parameters["unit_digest"]
    if finished_result(unit_result_path(Path(work_dir), unit_digest), unit_digest) is None:
        return None
    return f"curate-{digest([work_dir, unit_digest])}"


def unit_run_name(parameters: dict[str, Any]) -> str:
    """`curate-<source>-<digest>`, the source as the snapshot holds it (`safe_name`): a task run's name is stored in
    Prefect's database, and `--input jane@example.org=data.jsonl` (or a folder named after a person) must not be."""
    return f"curate-{safe_name(parameters['unit']['source'])}-{parameters['unit_digest'][:12]}"


@task(
    name="curate-file",
    retries=1,
    cache_key_fn=_unit_cache_key,
    persist_result=True,
    result_serializer="json",
    task_run_name=unit_run_name,
)
def curate_unit_task(unit: dict, unit_digest: str, snapshot_id: str, work_dir: str, config: dict) -> dict:
    cfg = load_config(overrides=config)
    result = _curator(cfg).curate_unit(InputUnit.from_dict(unit), unit_digest, Path(work_dir))
    get_run_logger().info(
        "%s: %d in, %d kept, %d rejected",
        safe_name(Path(unit["path"]).name),  # a file's name is its source's name (`jane@example.org.jsonl`)
        sum(result.docs_in.values()),
        sum(result.kept.values()),
        sum(sum(r.values()) for r in result.rejected.values()),
    )
    out = result.to_dict()  # Prefect persists it: the unit's source as the snapshot holds it
    out["unit"] = {**out["unit"], "source": safe_name(out["unit"]["source"])}
    return out


@task(name="dedup-signatures", retries=1, task_run_name="signatures-{part_index}")
def signatures_task(part: str, part_index: int, work_dir: str, config: dict) -> str:
    from lmforge.pipeline.dedup.signatures import compute_signatures

    cfg = load_config(overrides=config)
    out = Path(work_dir) / "signatures"
    out.mkdir(parents=True, exist_ok=True)
    return str(compute_signatures(Path(part), cfg.dedup, out))


@task(name="write-snapshot")
def finalize_task(
    inputs: list[str],
    workspace: str,
    config: dict,
    results: list[dict],
    signatures: list[str] | None,
    index: str | None,
) -> str:
    cfg = load_config(overrides=config)
    plan = make_plan(inputs, workspace, cfg, warn=False)  # the flow has said what its plan had to say
    with _INDEX_TURN if cfg.dedup.enabled else contextlib.nullcontext():
        path = finalize_snapshot(
            plan,
            [UnitResult(**r) for r in results],
            cfg,
            index_spec=index,
            signatures=[Path(s) for s in signatures] if signatures is not None else None,
        )
    return str(path)


@flow(name="curate", flow_run_name="curate-{workspace}", log_prints=False)
def curate_flow(
    inputs: list[str],
    workspace: str,
    config_path: str | None = None,
    strict: bool = False,
    index: str | None = None,
    overrides: dict | None = None,
) -> dict[str, Any]:
    """Raw corpora → validated Parquet snapshot (+ rejects, duplicates, manifest). Returns id, path and stats."""
    from lmforge.flows.report import publish_curate_report

    logger = get_run_logger()
    cfg = load_config(config_path, overrides)
    cfg_dict = cfg.to_dict()
    plan = make_plan(inputs, workspace, cfg)
    skipped = plan.done
    if skipped:
        logger.info("snapshot %s already exists: skipping curation", plan.snapshot_id)
        index_pending(plan, cfg, index or cfg.dedup.index)  # a run stopped before the index held it
    else:
        if cfg.dedup.enabled:  # an index built with other parameters is refused now, not after every file
            from lmforge.pipeline.dedup.index import check_index

            check_index(index or cfg.dedup.index, plan.snapshot_dir.parent.parent, cfg.dedup)  # writes nothing
        logger.info("curating %d input unit(s) into snapshot %s", len(plan.units), plan.snapshot_id)
        futures = [
            curate_unit_task.submit(u.to_dict(), d, plan.snapshot_id, str(plan.work_dir), cfg_dict)
            for u, d in zip(plan.units, plan.digests, strict=True)
        ]
        with progress_bar(len(futures), "curate", "file") as bar:
            for done in as_completed(futures):
                if bar:
                    bar.update(1)
                if strict:  # the first bad file fails the run; leaving the flow cancels the units not started
                    check_strict([UnitResult(**done.result())])
        results = [f.result() for f in futures]
        signatures = None
        if cfg.dedup.enabled:
            parts = [r["part"] for r in results if r["part"]]
            sig_futures = [signatures_task.submit(p, i, str(plan.work_dir), cfg_dict) for i, p in enumerate(parts)]
            signatures = [f.result() for f in sig_futures]
        finalize_task(inputs, str(workspace), cfg_dict, results, signatures, index or cfg.dedup.index)
    manifest = Manifest.read(find_stage(workspace, "snapshots", plan.snapshot_id))
    publish_curate_report(plan.snapshot_id, manifest.stats)
    logger.info(
        "snapshot %s: %d kept of %d documents", plan.snapshot_id, manifest.stats["kept"], manifest.stats["docs_in"]
    )
    return {
        "snapshot_id": plan.snapshot_id,
        "path": str(plan.snapshot_dir),
        "stats": manifest.stats,
        "skipped": skipped,
    }
