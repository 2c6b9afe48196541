"""The lineage chain of a trained model: run → shards → tokenizer → snapshot → raw input files.

Built from the run's checkpoint and the chain of stage manifests (DESIGN.md, "Contracts"), flattened into MLflow
tags for the model version, and re-hashed on demand (`verify`). Ids, digests, counts and paths only: never text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.pipeline.digest import code_version, sha256_file
from lmforge.pipeline.errors import LmforgeError, NotFoundError
from lmforge.pipeline.stage import find_stage, verify_files
from lmforge.pipeline.train.checkpoint import META
from lmforge.schemas.manifest import Manifest

log = logging.getLogger(__name__)

#: MLflow refuses longer tag values (model version tags: 5000 characters); longer lists go to lineage.json only.
TAG_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class Stage:
    """One finished stage folder in the chain (manifest None: the folder is gone or was never in this workspace)."""

    kind: str
    id: str
    path: Path | None
    manifest: Manifest | None = None

    def summary(self) -> dict[str, Any]:
        files = self.manifest.files if self.manifest else []
        return {
            "id": self.id,
            "path": str(self.path) if self.path else None,
            "files": len(files),
            "bytes": sum(f.bytes for f in files),
        }


@dataclass(frozen=True, slots=True)
class Lineage:
    run_dir: Path
    checkpoint: Path
    run_id: str
    mlflow_run_id: str | None
    shards: Stage
    tokenizer: Stage
    snapshot: Stage
    raw_inputs: list[dict[str, str]] = field(default_factory=list)

    @property
    def tokenizer_model(self) -> Path:
        if self.tokenizer.path is None:
            raise NotFoundError(f"tokenizer {self.tokenizer.id} of {self.run_dir} is not in the workspace")
        return self.tokenizer.path / "tokenizer.model"

    def to_dict(self) -> dict[str, Any]:
        """The lineage.json artifact: ids, digests, counts and paths."""
        return {
            "run": {
                "id": self.run_id,
                "path": str(self.run_dir),
                "checkpoint": str(self.checkpoint),
                "mlflow_run_id": self.mlflow_run_id,
            },
            "shards": self.shards.summary() | {"splits": _stats(self.shards).get("splits", {})},
            "tokenizer": self.tokenizer.summary() | {"vocab_size": _stats(self.tokenizer).get("vocab_size")},
            "snapshot": self.snapshot.summary()
            | {"pii": pii_counts(self.snapshot), "dedup": dedup_counts(self.snapshot)},
            "raw_inputs": self.raw_inputs,
            "code_version": code_version(),
        }


def _stats(stage: Stage) -> dict[str, Any]:
    return stage.manifest.stats if stage.manifest else {}


def pii_counts(snapshot: Stage) -> dict[str, int]:
    """Redactions per PII type recorded by the privacy filter (counts only)."""
    return {str(k): int(v) for k, v in sorted(_stats(snapshot).get("pii", {}).items())}


def dedup_counts(snapshot: Stage) -> dict[str, int]:
    """The numeric dedup counters of the snapshot manifest (nested tables are skipped)."""
    raw = _stats(snapshot).get("dedup", {}) or {}
    return {str(k): v for k, v in sorted(raw.items()) if isinstance(v, int | float) and not isinstance(v, bool)}


def _stage(workspace: Path, kind: str, id_: str | None) -> Stage:
    if not id_:
        return Stage(kind, "unknown", None)
    try:
        path = find_stage(workspace, kind, id_)
    except NotFoundError:
        log.warning("%s %s is not under %s; lineage records its id only", kind[:-1], id_, workspace)
        return Stage(kind, id_, None)
    return Stage(kind, id_, path.resolve(), Manifest.read(path))


def collect(run_dir: Path, checkpoint: Path, workspace: Path | None = None) -> Lineage:
    """Follow the manifests from a run's checkpoint down to the raw input files."""
    run_dir = Path(run_dir).resolve()
    workspace = Path(workspace) if workspace else run_dir.parent.parent
    meta = json.loads((checkpoint / META).read_text(encoding="utf-8"))
    info_path = run_dir / "run.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    shards = _stage(workspace, "shards", meta.get("shards_id"))
    if shards.manifest is None:
        raise NotFoundError(
            f"{run_dir}: trained on shards {meta.get('shards_id')!r}, which are not under "
            f"{workspace / 'shards'}; register from the workspace that holds them"
        )
    tokenizer = _stage(workspace, "tokenizers", shards.manifest.inputs.get("tokenizer"))
    snapshot = _stage(workspace, "snapshots", shards.manifest.inputs.get("snapshot"))
    raw = []
    if snapshot.manifest is not None:
        raw = [
            {
                "source": str(u.get("source")),
                "kind": str(u.get("kind")),
                "path": str(u.get("path")),
                "sha256": str(u.get("sha256")),
            }
            for u in snapshot.manifest.inputs.get("units", [])
        ]
    return Lineage(
        run_dir=run_dir,
        checkpoint=checkpoint.resolve(),
        run_id=run_dir.name,
        mlflow_run_id=info.get("mlflow_run_id"),
        shards=shards,
        tokenizer=tokenizer,
        snapshot=snapshot,
        raw_inputs=raw,
    )


def tags(lineage: Lineage, metrics: dict[str, float], flow_run: dict[str, str | None] | None = None) -> dict[str, str]:
    """Flat string tags for the model version (and its run): every id, digest and count a reader needs."""
    version = code_version()
    out = {
        "lmforge.run": lineage.run_id,
        "lmforge.run_dir": str(lineage.run_dir),
        "lmforge.checkpoint": str(lineage.checkpoint),
        "lmforge.checkpoint_sha256": sha256_file(lineage.checkpoint / "model.pt"),
        "lmforge.shards": lineage.shards.id,
        "lmforge.shards_dir": str(lineage.shards.path),
        "lmforge.tokenizer": lineage.tokenizer.id,
        "lmforge.tokenizer_dir": str(lineage.tokenizer.path),
        "lmforge.snapshot": lineage.snapshot.id,
        "lmforge.snapshot_dir": str(lineage.snapshot.path),
        "lmforge.raw_inputs.count": str(len(lineage.raw_inputs)),
        "lmforge.git_sha": str(version.get("git_sha")),
        "lmforge.version": str(version.get("package")),
    }
    if lineage.tokenizer.path is not None and lineage.tokenizer_model.is_file():
        out["lmforge.tokenizer_sha256"] = sha256_file(lineage.tokenizer_model)
    raw = json.dumps([{"path": u["path"], "sha256": u["sha256"]} for u in lineage.raw_inputs], sort_keys=True)
    out["lmforge.raw_inputs"] = raw if len(raw) <= TAG_LIMIT else "see lineage.json (too long for a tag)"
    out |= {f"lmforge.pii.{k}": str(v) for k, v in pii_counts(lineage.snapshot).items()}
    out |= {f"lmforge.dedup.{k}": str(v) for k, v in dedup_counts(lineage.snapshot).items()}
    out |= {f"lmforge.eval.{k}": f"{v:.6g}" for k, v in metrics.items()}
    for key, value in (flow_run or {}).items():
        if value:
            out[f"lmforge.prefect.{key}"] = str(value)
    return out


def verify(version_tags: dict[str, str]) -> tuple[int, list[str]]:
    """Re-hash the checkpoint weights, every file of the run/shards/tokenizer/snapshot folders and the raw inputs.

    Returns (files checked, one line per problem); no problems means the chain is intact.
    """
    problems: list[str] = []
    checked = 0
    ckpt = Path(version_tags.get("lmforge.checkpoint", "")) / "model.pt"
    if not ckpt.is_file():
        problems.append(f"{ckpt}: checkpoint weights missing")
    elif sha256_file(ckpt) != version_tags.get("lmforge.checkpoint_sha256"):
        problems.append(f"{ckpt}: sha256 differs from the registered checkpoint_sha256")
    checked += 1
    snapshot_manifest = None
    for kind, key in (
        ("shards", "lmforge.shards_dir"),
        ("tokenizer", "lmforge.tokenizer_dir"),
        ("snapshot", "lmforge.snapshot_dir"),
    ):
        folder = Path(version_tags.get(key, "None"))
        if version_tags.get(key) in (None, "None") or not (folder / "manifest.json").is_file():
            problems.append(f"{kind} {version_tags.get(f'lmforge.{kind}')}: folder {folder} or its manifest is missing")
            continue
        try:
            manifest = Manifest.read(folder)
            if manifest.id != version_tags.get(f"lmforge.{kind}"):
                problems.append(
                    f"{folder}: manifest id {manifest.id} != registered {version_tags.get(f'lmforge.{kind}')}"
                )
            problems += verify_files(folder)
            checked += len(manifest.files)
        except LmforgeError as exc:
            problems.append(str(exc))
            continue
        if kind == "snapshot":
            snapshot_manifest = manifest
    if snapshot_manifest is not None:
        exts = snapshot_manifest.params.get("curate", {}).get("text_extensions", [".txt", ".md"])
        for unit in snapshot_manifest.inputs.get("units", []):
            checked += 1
            if (problem := verify_raw(unit, exts, snapshot_manifest.inputs.get("cwd"))) is not None:
                problems.append(problem)
    return checked, problems


def verify_raw(unit: dict[str, Any], text_extensions: list[str], cwd: str | None = None) -> str | None:
    """Recompute a raw input unit's digest as curation took it (`curate.inputs.unit_digest`). A relative path is
    taken from `cwd`, the folder curation ran in (the snapshot manifest's `inputs.cwd`), when it has one."""
    from lmforge.pipeline.curate.inputs import InputUnit, plan_inputs, unit_digest

    recorded = str(unit.get("path"))
    path = Path(recorded)
    if cwd and not path.is_absolute():
        path = Path(cwd) / path
    if not path.exists():
        return f"{path}: raw input missing"
    if unit.get("kind") == "textdir":
        found = [u for u in plan_inputs([str(path)], text_extensions) if u.kind == "textdir"]
        if not found:
            return f"{path}: raw text folder no longer holds any text file"
        current = InputUnit("textdir", str(path), str(unit.get("source")), found[0].files)
    else:  # an empty folder's digest is of its path as given
        where = recorded if unit.get("kind") == "empty_dir" else str(path)
        current = InputUnit(str(unit.get("kind")), where, str(unit.get("source")))
    if unit_digest(current) != unit.get("sha256"):
        return f"{path}: raw input digest differs from the snapshot manifest ({str(unit.get('sha256'))[:12]}…)"
    return None
