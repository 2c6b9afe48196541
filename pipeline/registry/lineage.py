"""The lineage chain of a trained model: run → shards → tokenizer → snapshot → raw input files.

Built from the run's checkpoint and the chain of stage manifests (DESIGN.md, "Contracts"), flattened into MLflow
tags for the model version, and re-hashed on demand (`verify`). Ids, digests, counts and paths only: never text.

The tags pin each manifest by its sha256 (a file rewritten together with its manifest entry is still caught) and the
packaged model by the sha256 of every file MLflow logged for it (PACKAGE_FILES_TAG). Paths are recorded absolute;
`verify` given the workspace's current folder finds a moved workspace's files there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.pipeline.curate.inputs import safe_name
from lmforge.pipeline.digest import code_version, sha256_file
from lmforge.pipeline.errors import IntegrityError, LmforgeError, NotFoundError
from lmforge.pipeline.stage import find_stage, verify_files
from lmforge.pipeline.train.checkpoint import read_meta
from lmforge.schemas.manifest import MANIFEST_NAME, Manifest

log = logging.getLogger(__name__)

#: MLflow refuses longer tag values (model version tags: 5000 characters); longer lists go to lineage.json only.
TAG_LIMIT = 5000
CHECKPOINT_TAG = "lmforge.checkpoint_sha256"
"""The model version tag with the sha256 of the checkpoint's weights: what makes two versions the same model."""
CURATED_TAG = "lmforge.curated_workspace"
"""The model version tag with the folder the workspace was in when its snapshot was curated, when it had been moved
since (with raw inputs inside it) by the time of registration: the snapshot manifest's raw paths are under it."""
PACKAGE_FILES_TAG = "lmforge.package_files"
"""The model version tag with {path: sha256} of every file of the logged model package: besides the weights, model.json
and tokenizer (`lmforge.package_sha256`), the MLmodel that names the loader, python_model.pkl (code run on load) and
the environment files (requirements.txt, conda.yaml, python_env.yaml) a serving environment installs."""
_WRITTEN_BY_MLFLOW = frozenset({"registered_model_meta"})
"""Files MLflow itself writes into a package folder after it was logged: loading `models:/NAME/VERSION` from a local
artifact store records the version's name and number there, in place, and nothing reads it back on load. Neither
recorded nor reported as added."""
#: Raw unit kinds whose files are read (and so move along with a moved workspace); the others' digest is of the path.
_READ_KINDS = ("jsonl", "parquet", "text", "textdir")
_REDACTED_SUFFIX = re.compile(r"~[0-9a-f]{8}$")
"""The digest `curate.inputs.safe_name` appends to a name or path it redacted (`/data/<EMAIL>/a.jsonl~1f0c6a2e`)."""


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
    workspace: Path | None = None
    curated_workspace: Path | None = None

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
            "curated_workspace": str(self.curated_workspace) if self.curated_workspace else None,
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
    workspace = Path(workspace).resolve() if workspace else run_dir.parent.parent
    meta = read_meta(checkpoint)
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
    raw, curated_in = [], None
    if snapshot.manifest is not None:
        units, cwd = snapshot.manifest.inputs.get("units", []), snapshot.manifest.inputs.get("cwd")
        curated_in = curated_workspace(units, cwd, workspace)
        tags_now = {"lmforge.workspace": str(workspace), CURATED_TAG: str(curated_in)} if curated_in else {}
        raw = [
            {
                "source": safe_name(str(u.get("source"))),  # already safe in new manifests; older held it raw
                "kind": str(u.get("kind")),
                "path": str(raw_unit_now(u, cwd, tags_now, None)["path"]) if curated_in else str(u.get("path")),
                "sha256": str(u.get("sha256")),
            }
            for u in units
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
        workspace=workspace,
        curated_workspace=curated_in,
    )


def curated_workspace(units: list[dict[str, Any]], cwd: str | None, workspace: Path) -> Path | None:
    """Where `workspace` was when the snapshot was curated, when it has been moved since and raw inputs lay inside
    it (`make run` writes the default corpus to `<ws>/corpus`); None when every raw input is where it was recorded.

    The snapshot manifest records no workspace, so it is read off a raw path that is gone: the folder above it whose
    place under `workspace` holds the rest of the path (the longest such rest, the least likely by chance). Whether
    the file found there is the same is for `verify` to say, by its digest."""
    for unit in units:
        if unit.get("kind") not in _READ_KINDS:
            continue
        path = Path(os.path.normpath(_raw_path(unit, cwd)))
        if not path.is_absolute() or path.exists():
            continue
        for old in reversed(path.parents[:-1]):  # shallowest first; `/` itself is no workspace
            if old != workspace and (workspace / path.relative_to(old)).exists():
                return old
    return None


def tags(lineage: Lineage, metrics: dict[str, float], flow_run: dict[str, str | None] | None = None) -> dict[str, str]:
    """Flat string tags for the model version (and its run): every id, digest and count a reader needs."""
    version = code_version()
    out = {
        "lmforge.run": lineage.run_id,
        "lmforge.run_dir": str(lineage.run_dir),
        "lmforge.checkpoint": str(lineage.checkpoint),
        CHECKPOINT_TAG: sha256_file(lineage.checkpoint / "model.pt"),
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
    if lineage.workspace is not None:
        out["lmforge.workspace"] = str(lineage.workspace)
    if lineage.curated_workspace is not None:
        out[CURATED_TAG] = str(lineage.curated_workspace)
    for key, folder in (
        ("run", lineage.run_dir),
        ("shards", lineage.shards.path),
        ("tokenizer", lineage.tokenizer.path),
        ("snapshot", lineage.snapshot.path),
    ):
        if folder is not None and (folder / MANIFEST_NAME).is_file():
            out[f"lmforge.{key}_manifest_sha256"] = sha256_file(folder / MANIFEST_NAME)
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


def package_files(root: Path) -> dict[str, Path]:
    """{path under `root`, with '/': file} of every file of a model package folder, in path order."""
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    return {rel: path for rel, path in files.items() if rel not in _WRITTEN_BY_MLFLOW}


def logged_package_files(model_id: str) -> dict[str, str]:
    """{path: sha256} of every file of logged model `model_id` as MLflow serves it (read in place from a local
    artifact store, downloaded from a remote one): what `verify` re-hashes later."""
    from mlflow import MlflowClient

    location = MlflowClient().get_logged_model(model_id).artifact_location
    with tempfile.TemporaryDirectory(prefix="lmforge-package-") as tmp:
        return {rel: sha256_file(path) for rel, path in package_files(_package_dir(location, {}, None, tmp)).items()}


def _note(notes: list[str] | None, note: str) -> None:
    """A note of `verify`: what could not be checked and is no sign of tampering; logged, and kept when asked."""
    log.info("%s", note)
    if notes is not None:
        notes.append(note)


def verify(
    version_tags: dict[str, str], workspace: str | Path | None = None, notes: list[str] | None = None
) -> tuple[int, list[str]]:
    """Re-hash the packaged model, the checkpoint weights, every file of the run/shards/tokenizer/snapshot folders
    (each manifest against the sha256 registered) and the raw inputs. `workspace`: where the workspace is now, when
    it was moved since registration (recorded paths that are gone are looked up there).

    Returns (files checked, one line per problem); no problems means the chain is intact. What could not be checked
    and is no sign of tampering (a raw input whose path the manifest records redacted) is a note: logged, appended
    to `notes` when given, neither a problem nor a file checked.
    """
    tags = version_tags
    checked, problems = verify_package(tags, workspace, notes)
    recorded = tags.get("lmforge.checkpoint")
    ckpt = relocate(Path(recorded), tags, workspace) / "model.pt" if recorded else None
    if ckpt is None or not ckpt.is_file():
        problems.append(f"{ckpt or 'checkpoint'}: checkpoint weights missing")
    elif sha256_file(ckpt) != tags.get(CHECKPOINT_TAG):
        problems.append(f"{ckpt}: sha256 differs from the registered checkpoint_sha256")
    checked += 1
    run_dir = relocate(Path(tags.get("lmforge.run_dir", "None")), tags, workspace)
    if "lmforge.run_manifest_sha256" in tags or (run_dir / MANIFEST_NAME).is_file():
        n, found, _ = _verify_folder("run", run_dir, tags, "run")  # versions registered before: when it has one
        checked, problems = checked + n, problems + found
    snapshot_manifest = None
    for kind, kinds in (("shards", "shards"), ("tokenizer", "tokenizers"), ("snapshot", "snapshots")):
        n, found, manifest = _verify_folder(kind, _stage_folder(tags, kind, kinds, workspace), tags, kind)
        checked, problems = checked + n, problems + found
        if kind == "snapshot":
            snapshot_manifest = manifest
    if snapshot_manifest is not None:
        units, exts, cwd, found = _raw_inputs(snapshot_manifest, f"snapshot {tags.get('lmforge.snapshot')}")
        problems += found
        for unit in units:
            if (note := redacted_note(unit, cwd)) is not None:
                _note(notes, note)
                continue
            checked += 1
            if (problem := verify_raw(raw_unit_now(unit, cwd, tags, workspace), exts, cwd)) is not None:
                problems.append(problem)
    return checked, problems


def _raw_inputs(manifest: Manifest, what: str) -> tuple[list[dict[str, Any]], list[str], str | None, list[str]]:
    """The raw units, text extensions and curation folder a snapshot manifest records, and a problem line for each
    part of them that is not of the shape curation writes: an edited manifest (already reported by its sha256) made
    `verify`, whose job is to report it, die of an AttributeError instead."""
    inputs, curate = manifest.inputs, manifest.params.get("curate", {})
    units, cwd = inputs.get("units", []), inputs.get("cwd")
    exts = curate.get("text_extensions", [".txt", ".md"]) if isinstance(curate, dict) else None
    problems = []
    if not isinstance(units, list):
        problems.append(f"{what}: manifest inputs.units is {type(units).__name__}, not a list of raw inputs")
        units = []
    for n, unit in enumerate(units):
        if not isinstance(unit, dict):
            problems.append(f"{what}: manifest inputs.units[{n}] is {type(unit).__name__}, not a raw input record")
    if cwd is not None and not isinstance(cwd, str):
        problems.append(f"{what}: manifest inputs.cwd is {type(cwd).__name__}, not a folder")
        cwd = None
    if not isinstance(exts, list) or not all(isinstance(e, str) for e in exts):
        problems.append(f"{what}: manifest params.curate.text_extensions is not a list of extensions")
        exts = [".txt", ".md"]
    return [u for u in units if isinstance(u, dict)], exts, cwd, problems


def redacted_note(unit: dict[str, Any], cwd: str | None) -> str | None:
    """The note for a raw input whose path the snapshot manifest records redacted (`curate.inputs.safe_name`: a
    folder named after a person's address, `/data/<EMAIL>/a.jsonl~1f0c6a2e`), else None. Such a path names no file,
    so the input cannot be re-hashed from the manifest; that is what privacy asks, not a sign of tampering (the
    manifest holding its digest is itself pinned by the sha256 registered). A path as given that merely looks so,
    and is there, is re-hashed as any other."""
    from lmforge.pipeline.privacy.placeholders import PLACEHOLDER_RE

    recorded = str(unit.get("path"))
    if not (PLACEHOLDER_RE.search(recorded) and _REDACTED_SUFFIX.search(recorded)):
        return None
    path = _raw_path(unit, cwd)
    if path.exists():
        return None
    return (
        f"{path}: not re-hashed: the snapshot manifest records this {unit.get('kind')} input's path redacted, as it "
        f"held personal data, so the file cannot be found from the manifest (its digest {str(unit.get('sha256'))[:12]}… "
        "is pinned with the manifest)"
    )


def raw_unit_now(unit: dict[str, Any], cwd: str | None, tags: dict[str, str], workspace: str | Path | None) -> dict:
    """`unit` with its path moved along with a moved workspace when the raw input lay inside it (`make run`
    materialises the default corpus under the workspace): a move before registration (the curation's workspace,
    tag CURATED_TAG, to the registration's) and one after it (to `workspace`). Units whose digest is of the path
    itself are left."""
    if unit.get("kind") not in _READ_KINDS:
        return unit
    path = _raw_path(unit, cwd)
    moved = Path(os.path.normpath(path))
    then, registered = tags.get(CURATED_TAG), recorded_workspace(tags)
    if then and registered is not None and not moved.exists() and moved.is_relative_to(then):
        moved = registered / moved.relative_to(then)
    if workspace is not None:
        moved = relocate(moved, tags, workspace)
    return unit if moved == path else {**unit, "path": str(moved)}  # one gone is missing where it is now


def recorded_workspace(tags: dict[str, str]) -> Path | None:
    """The workspace folder at registration (versions registered before it was a tag: the run folder's
    `<ws>/runs/<id>` parent)."""
    if tags.get("lmforge.workspace"):
        return Path(tags["lmforge.workspace"])
    run_dir = Path(tags.get("lmforge.run_dir", ""))
    return run_dir.parent.parent if run_dir.parent.name == "runs" else None


def relocate(path: Path, tags: dict[str, str], workspace: str | Path | None) -> Path:
    """`path` as recorded, or, when it is gone and lay in the registration's workspace, the same place under
    `workspace` (a moved workspace keeps its layout)."""
    old = recorded_workspace(tags)
    if workspace is None or old is None or path.exists() or not path.is_relative_to(old):
        return path
    return Path(workspace).resolve() / path.relative_to(old)


def _stage_folder(tags: dict[str, str], key: str, kind: str, workspace: str | Path | None) -> Path | None:
    """The recorded stage folder, or the stage of the same id under `workspace` (ids do not move)."""
    recorded = tags.get(f"lmforge.{key}_dir")
    folder = Path(recorded) if recorded and recorded != "None" else None
    if (folder is None or not (folder / MANIFEST_NAME).is_file()) and workspace is not None:
        try:
            folder = find_stage(workspace, kind, tags.get(f"lmforge.{key}") or "unknown")
        except NotFoundError:  # gone: named where it would be now, not where a moved workspace had it
            folder = relocate(folder, tags, workspace) if folder is not None else None
    return folder


def _verify_folder(
    kind: str, folder: Path | None, tags: dict[str, str], key: str
) -> tuple[int, list[str], Manifest | None]:
    """(files checked, problems, manifest) of one folder of the chain, its manifest pinned by the registered id and
    sha256 (a file rewritten together with its manifest entry is caught by the latter)."""
    if folder is None or not (folder / MANIFEST_NAME).is_file():
        return 0, [f"{kind} {tags.get(f'lmforge.{key}')}: folder {folder} or its manifest is missing"], None
    problems = []
    try:
        manifest = Manifest.read(folder)
        for part in ("inputs", "params"):
            if not isinstance(getattr(manifest, part), dict):
                raise TypeError(f"its {part} is {type(getattr(manifest, part)).__name__}, not an object")
        if manifest.id != tags.get(f"lmforge.{key}"):
            problems.append(f"{folder}: manifest id {manifest.id} != registered {tags.get(f'lmforge.{key}')}")
        pinned = tags.get(f"lmforge.{key}_manifest_sha256")
        if pinned and sha256_file(folder / MANIFEST_NAME) != pinned:
            problems.append(
                f"{folder / MANIFEST_NAME}: manifest differs from the one registered (sha256 {pinned[:12]}…)"
            )
        problems += verify_files(folder)
    except LmforgeError as exc:
        return 0, [str(exc)], None
    except (TypeError, AttributeError, ValueError) as exc:
        # JSON of another shape than a manifest's (a list, a file entry with a field too many or a number for its
        # path): `Manifest.read` and the re-hashing fail on it with Python's own errors, which stopped `verify`
        return 0, [f"{folder / MANIFEST_NAME}: damaged manifest, not the fields of a stage manifest ({exc})"], None
    return len(manifest.files), problems, manifest


def verify_package(
    tags: dict[str, str], workspace: str | Path | None = None, notes: list[str] | None = None
) -> tuple[int, list[str]]:
    """Re-hash the packaged model where MLflow serves it: its artifacts (weights, model.json, tokenizer) where its
    MLmodel declares them, against `lmforge.package_sha256`, and every file of the package against PACKAGE_FILES_TAG,
    reporting a file changed, missing or added. A version registered before a tag existed gets a note for what is
    not checked."""
    try:
        expected = json.loads(tags.get("lmforge.package_sha256") or "{}")
    except json.JSONDecodeError:
        expected = None
    model_id = tags.get("lmforge.package_model_id")
    if not isinstance(expected, dict) or not all(isinstance(v, str) for v in expected.values()):
        # the tag was edited (MLflow's UI edits tags): `--verify` died of JSONDecodeError instead of saying so
        return 1, ["tag lmforge.package_sha256: not the {artifact: sha256} JSON registered; it was edited"]
    if bool(expected) != bool(model_id):  # registered together (or, by an older lmforge, neither): one was deleted
        gone = "lmforge.package_model_id" if expected else "lmforge.package_sha256"
        return 1, [f"tag {gone}: deleted (it is registered with every version); the package cannot be checked"]
    if not expected:
        _note(notes, "model package: not re-hashed, this version was registered before lmforge recorded its digests")
        return 0, []
    files = _recorded_package_files(tags)
    if isinstance(files, str):
        return 1, [files]
    if files is None:
        _note(
            notes,
            f"model package {model_id}: only its {', '.join(sorted(expected))} re-hashed; this version was registered "
            f"before lmforge recorded every file of the package (tag {PACKAGE_FILES_TAG}, or it was deleted), so its "
            "MLmodel, python_model.pkl and environment files are not checked",
        )
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    problems = []
    with tempfile.TemporaryDirectory(prefix="lmforge-verify-") as tmp:
        try:
            root = _package_dir(MlflowClient().get_logged_model(model_id).artifact_location, tags, workspace, tmp)
            declared = _declared_artifacts(root)
        except (MlflowException, OSError, IntegrityError) as exc:
            return len(expected), [f"model package {model_id}: cannot be read ({exc})"]
        for key, sha in sorted(expected.items()):
            path = root / declared.get(key, key)
            if not path.is_file():
                problems.append(f"{path}: packaged {key} missing")
            elif sha256_file(path) != sha:
                problems.append(f"{path}: sha256 differs from the packaged {key} registered ({sha[:12]}…)")
        if files is None:
            return len(expected), problems
        # the artifacts' own lines above say which artifact: not said twice
        said = {(root / declared.get(key, key)).resolve() for key in expected}
        now = package_files(root)
        others = sorted(rel for rel in set(files) | set(now) if (root / rel).resolve() not in said)
        for rel in others:
            if rel not in now:
                problems.append(f"{root / rel}: package file missing (registered with sha256 {files[rel][:12]}…)")
            elif rel not in files:
                problems.append(f"{root / rel}: package file added since registration (not in tag {PACKAGE_FILES_TAG})")
            elif sha256_file(now[rel]) != files[rel]:
                problems.append(f"{root / rel}: sha256 differs from the package file registered ({files[rel][:12]}…)")
    return len(expected) + len(others), problems


def _recorded_package_files(tags: dict[str, str]) -> dict[str, str] | str | None:
    """The {path: sha256} of PACKAGE_FILES_TAG; None without the tag; a problem line when it was edited."""
    text = tags.get(PACKAGE_FILES_TAG)
    if text is None:
        return None
    try:
        files = json.loads(text)
    except json.JSONDecodeError:
        files = None
    if not isinstance(files, dict) or not files or not all(isinstance(v, str) for v in files.values()):
        return f"tag {PACKAGE_FILES_TAG}: not the {{path: sha256}} JSON registered; it was edited"
    for rel in files:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts:  # would re-hash a file outside the package
            return f"tag {PACKAGE_FILES_TAG}: names {rel!r}, outside the package; it was edited"
    return files


def _declared_artifacts(root: Path) -> dict[str, str]:
    """{artifact key: path in the package} as the package's MLmodel declares them, which is where pyfunc loads them
    from. An MLmodel edited out of its shape (not YAML, its pyfunc flavor gone) made `verify` die of a YAML, Key or
    TypeError: it is an IntegrityError; an entry without a path is left out (its file is then reported missing)."""
    import yaml
    from mlflow.models import Model

    try:
        artifacts = Model.load(str(root)).flavors["python_function"].get("artifacts") or {}
        return {
            str(key): entry["path"]
            for key, entry in artifacts.items()
            if isinstance(entry, dict) and isinstance(entry.get("path"), str)
        }
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise IntegrityError(f"{root / 'MLmodel'}: damaged, {type(exc).__name__}: {first}") from exc


def local_artifact_dir(location: str, tags: dict[str, str], workspace: str | Path | None) -> Path | None:
    """The folder of artifact URI `location` when it is local (moved along with a moved workspace); None for a
    remote store."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    return relocate(Path(url2pathname(parsed.path)), tags, workspace)


def _package_dir(location: str, tags: dict[str, str], workspace: str | Path | None, tmp: str) -> Path:
    """A logged model's folder: in place for a local artifact store (moved along with a moved workspace), else
    downloaded into `tmp`."""
    local = local_artifact_dir(location, tags, workspace)
    if local is not None:
        return local
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp))


def verify_raw(unit: dict[str, Any], text_extensions: list[str], cwd: str | None = None) -> str | None:
    """Recompute a raw input unit's digest as curation took it (`curate.inputs.unit_digest`). A relative path is
    taken from `cwd`, the folder curation ran in (the snapshot manifest's `inputs.cwd`), when it has one."""
    from lmforge.pipeline.curate.inputs import InputUnit, path_of_shown, plan_inputs, unit_digest

    recorded = str(unit.get("path"))
    path = _raw_path(unit, cwd)
    if unit.get("kind") == "bad_name":  # recorded under its escaped display name; nothing of it was read
        return None if path_of_shown(path).exists() else f"{path}: raw input missing"
    if not path.exists():
        return f"{path}: raw input missing"
    if unit.get("kind") == "textdir":
        found = [u for u in plan_inputs([str(path)], text_extensions) if u.kind == "textdir"]
        if not found:
            return f"{path}: raw text folder no longer holds any text file"
        current = InputUnit("textdir", str(path), str(unit.get("source")), found[0].files)
    else:  # an empty folder's (or a FIFO's) digest is of its path as given
        where = recorded if unit.get("kind") in ("empty_dir", "special") else str(path)
        current = InputUnit(str(unit.get("kind")), where, str(unit.get("source")))
    if unit_digest(current) != unit.get("sha256"):
        return f"{path}: raw input digest differs from the snapshot manifest ({str(unit.get('sha256'))[:12]}…)"
    return None


def _raw_path(unit: dict[str, Any], cwd: str | None) -> Path:
    """A raw unit's recorded path; a relative one is taken from `cwd`, the folder curation ran in."""
    path = Path(str(unit.get("path")))
    return Path(cwd) / path if cwd and not path.is_absolute() else path
