"""Registering a trained run in the MLflow model registry, with its lineage, and resolving `models:/` references.

Order matters for "nothing half-registered": the server is probed first; the package is staged and smoke-tested
locally; the run gets its inputs, metrics, lineage.json and the pyfunc model; only then is a model version created
(with every tag at creation), and only then does an alias move to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.errors import LmforgeError, NotFoundError
from lmforge.pipeline.registry import datasets
from lmforge.pipeline.registry import lineage as L
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.pyfunc import (
    LmforgeLanguageModel,
    checkpoint_of,
    load_packaged,
    package_sha256,
    pip_requirements,
    signature,
    smoke_check,
    stage_artifacts,
)
from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept

log = logging.getLogger(__name__)

CANDIDATE, CHAMPION = "candidate", "champion"


class TrackingUnreachableError(LmforgeError):
    """The MLflow tracking server does not answer; nothing was logged or registered."""


class RunNotFinishedError(LmforgeError):
    """The run's training did not reach its end (killed, crashed, or still running); nothing was registered."""


class RegistrationIncompleteError(LmforgeError):
    """MLflow (or its artifact store) failed midway through a registration: the message says at which step and what
    it left; running `register` again finishes the job without registering the checkpoint twice."""


class NotFiniteError(LmforgeError):
    """The packaged model scores no finite loss on its own val shards (its weights hold NaN or inf): it is not
    registered, so it never becomes @candidate, as the gate never makes such a model @champion."""


def tracking_uri(workspace: str | Path) -> str:
    from lmforge.pipeline.tracking.mlflow_run import tracking_uri as uri

    return uri(workspace)


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before anything is logged, when an HTTP tracking server does not answer its health check."""
    if not uri.startswith(("http://", "https://")):
        return
    from urllib.parse import urlsplit, urlunsplit

    from lmforge.pipeline.urls import shown_url

    # `http://user:password@host` is basic auth to MLflow; urllib took it for part of the host name ("Name or service
    # not known"), and /health needs no authentication. Messages show the URL without its password.
    parts = urlsplit(uri)
    health = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])).rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:
            if response.status >= 500:
                raise TrackingUnreachableError(f"MLflow server {shown_url(uri)} is unhealthy (HTTP {response.status})")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnreachableError(
            f"MLflow tracking server {shown_url(uri)} is unreachable ({getattr(exc, 'reason', exc)}); start it, or "
            "unset MLFLOW_TRACKING_URI to use the workspace's SQLite store"
        ) from exc


def check_store(uri: str, registry_uri: str) -> None:
    """Open the stores once, before anything is evaluated or logged: one MLflow refuses (a `./mlruns` file store,
    which MLflow 3 refuses unless MLFLOW_ALLOW_FILE_STORE is set; an unknown scheme) failed only after the minutes
    of packaging and evaluation, with a traceback, since the registry's first reads take that error for "no model
    yet"."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.urls import shown_url

    try:
        MlflowClient(tracking_uri=uri, registry_uri=registry_uri)
    except MlflowException as exc:
        raise TrackingUnreachableError(
            f"MLflow cannot open the tracking store {shown_url(uri)} (registry {shown_url(registry_uri)}): "
            f"{exc.message}"
        ) from exc


def use_tracking(workspace: str | Path) -> str:
    """Point MLflow at the workspace's store (or MLFLOW_TRACKING_URI), after checking it answers."""
    from lmforge.pipeline.tracking.mlflow_run import follow_workspace, point_mlflow

    uri = tracking_uri(workspace)
    check_reachable(uri)
    registry_uri = os.environ.get("MLFLOW_REGISTRY_URI") or uri
    check_store(uri, registry_uri)
    point_mlflow(uri, registry_uri)
    follow_workspace(workspace)  # a moved workspace's registrations log into it, not at its old place
    return uri


# -- resolving references ------------------------------------------------------------------------------------------
def parse_ref(ref: str, default_name: str = "lmforge") -> tuple[str, str | None, str | None]:
    """`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `NAME@ALIAS`, `NAME/VERSION` or `NAME` → (name, alias, version).

    Another URI scheme (`runs:/…`) or an empty alias is a NotFoundError: read as a name it would name nothing, or
    (`NAME@`) silently the newest version."""
    scheme, sep, _ = ref.partition(":/")
    if sep and scheme != "models":
        raise NotFoundError(
            f"{ref!r} is not a registered model reference; give models:/NAME@ALIAS or models:/NAME/VERSION"
        )
    body = ref.removeprefix("models:/").strip("/") or default_name
    if "@" in body:
        name, _, alias = body.partition("@")
        if not alias:
            raise NotFoundError(f"{ref!r} has an empty alias; give models:/NAME@ALIAS, e.g. @champion")
        return name or default_name, alias, None
    if "/" in body:
        name, _, version = body.rpartition("/")
        return name, None, version
    return body, None, None


_NOT_THERE = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
"""MLflow's error codes for a version (or an alias) a model does not have: any other is the store failing."""


def resolve_version(ref: str, default_name: str = "lmforge") -> Any:
    """The ModelVersion a reference names; NotFoundError listing what exists when it names nothing."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name, alias, version = parse_ref(ref, default_name)
    client = MlflowClient()
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":  # a 503 is not "no such model"
            raise store_error(exc, f"looking up registered model {name!r}", "nothing was read") from exc
        known = sorted(m.name for m in client.search_registered_models(max_results=100))
        raise NotFoundError(
            f"registered model {name!r} does not exist (registered models: "
            f"{', '.join(known) or 'none'}); register one with `lmforge register --run RUN`"
        ) from exc
    try:
        versions = sorted((str(v.version) for v in client.search_model_versions(f"name='{name}'")), key=int)
    except MlflowException as exc:
        raise store_error(exc, f"listing the versions of registered model {name!r}", "nothing was read") from exc
    what = f"alias {alias!r}" if alias else f"version {version!r}"
    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        if version:
            return client.get_model_version(name, version)
        return client.get_model_version(name, versions[-1])
    except (MlflowException, IndexError) as exc:
        # MLflow answers a missing alias (or a version that is no number) INVALID_PARAMETER_VALUE, a missing version
        # RESOURCE_DOES_NOT_EXIST; a 503 is neither, and was reported as "no alias 'champion'" beside a list of
        # aliases that held it
        if isinstance(exc, MlflowException) and exc.error_code not in _NOT_THERE:
            raise store_error(exc, f"looking up the {what} of registered model {name!r}", "nothing was read") from exc
        aliases = ", ".join(f"@{a}→v{v}" for a, v in sorted((model.aliases or {}).items())) or "none"
        raise NotFoundError(
            f"model {name!r} has no {what} (aliases: {aliases}; versions: {', '.join(versions) or 'none'})"
        ) from exc


def aliases_of(name: str, version: str) -> list[str]:
    from mlflow import MlflowClient

    model = MlflowClient().get_registered_model(name)
    return sorted(a for a, v in (model.aliases or {}).items() if str(v) == str(version))


# -- registering ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Registered:
    name: str
    version: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    lineage: L.Lineage


def run_shards_id(run_dir: Path) -> str:
    """The shards id a run's newest checkpoint was trained on (NotFoundError for a run with no checkpoint)."""
    from lmforge.pipeline.train.checkpoint import read_meta

    return str(read_meta(checkpoint_of(Path(run_dir))).get("shards_id"))


def evaluate_packaged(loaded: Any, shards_dir: Path, config: RegistryConfig) -> dict[str, Any]:
    """`evaluate` of a packaged model on the val split of `shards_dir`, with the registry's eval settings."""
    from lmforge.pipeline.train.evaluate import evaluate

    return evaluate(
        loaded.model,
        shards_dir,
        "val",
        batch_size=config.eval_batch_size,
        seq_len=config.eval_seq_len,
        max_batches=config.eval_max_batches,
        expect_tokenizer=loaded.info["tokenizer_sha256"],
    )


def candidate_metrics(artifacts: dict[str, str], shards_dir: Path, config: RegistryConfig) -> dict[str, float]:
    """Val loss / perplexity / bits per byte of the packaged model on its own validation shards."""
    result = evaluate_packaged(load_packaged(artifacts), shards_dir, config)
    return {
        "val_bpb": result["bpb"],
        "val_loss": result["loss"],
        "val_ppl": result["ppl"],
        "val_tokens": float(result["tokens"]),
    }


def check_finished(run_dir: Path) -> None:
    """Refuse a run whose training stopped before its last step: its newest checkpoint is a half-trained model,
    which would become @candidate and could be promoted."""
    from lmforge.pipeline.stage import is_done
    from lmforge.pipeline.train.checkpoint import read_meta
    from lmforge.pipeline.train.trainer import Trainer

    info = Trainer.read_run_json(run_dir)
    if info.get("status") == "finished" and is_done(run_dir):
        checkpoint = checkpoint_of(run_dir)
        step = read_meta(checkpoint).get("step")
        final = info.get("step")
        if not isinstance(final, int) or not isinstance(step, int) or step >= final:
            return
        # The final checkpoint was deleted (as a damaged one's error advises) or lost: the newest left is an earlier
        # step of a finished run, a half-trained model that would be registered as the run's.
        raise RunNotFinishedError(
            f"{run_dir}: the run finished at step {final}, but its newest checkpoint is {checkpoint.name} (step "
            f"{step}): the final checkpoint is gone; resume the run to step {final} (`lmforge train … --resume`) "
            "and register then. Nothing was registered"
        )
    raise RunNotFinishedError(
        f"{run_dir}: the run has not finished (status {info.get('status', 'unknown')!r}, newest checkpoint "
        f"{checkpoint_of(run_dir).name}); resume it to its last step (`lmforge train … --resume`) and register then. "
        "Nothing was registered"
    )


def check_finite(metrics: dict[str, float], what: str, outcome: str = "Nothing was registered") -> None:
    """Refuse a model whose val loss or bits per byte is NaN or infinite: as @candidate it would replace a working
    candidate for whoever serves that alias, and every gate comparison against it is NaN."""
    bad = {k: v for k, v in metrics.items() if k in ("val_loss", "val_bpb") and not math.isfinite(v)}
    if bad:
        shown = ", ".join(f"{k.removeprefix('val_')} {v}" for k, v in sorted(bad.items()))
        raise NotFiniteError(
            f"{what} scores val {shown} on its own val shards: its weights are not finite (training diverged, or "
            "the checkpoint was damaged); resume the run from an earlier checkpoint (with a lower optim.lr) and "
            f"register then. {outcome}"
        )


def store_error(exc: BaseException, doing: str, outcome: str = "nothing was registered") -> TrackingUnreachableError:
    """One line for an MLflow store that failed while lmforge was `doing` something (its own message is a multi-line
    HTTP body or a retry chain), and not taken for an answer: "no such model" or "no such run" went on as if it were
    one (a check skipped, a duplicate version, a model logged away from its training run)."""
    from lmforge.pipeline.tracking.mlflow_run import mlflow_uri

    return TrackingUnreachableError(
        f"MLflow at {mlflow_uri()} failed while {doing} ({_first_line(exc)}); {outcome}: retry once it answers"
    )


def _first_line(exc: BaseException) -> str:
    """The first line of an MLflow error (its own message is a multi-line HTTP body or a retry chain)."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return next((line.strip() for line in str(message).splitlines() if line.strip()), type(exc).__name__)[:300]


@contextlib.contextmanager
def _step(run: str, doing: str, left: str) -> Iterator[None]:
    """One step of registering run `run` once something is written: a failure of MLflow, or of its HTTP or artifact
    store (MlflowException, OSError), is one line saying which step failed and what it left (`left`), not a
    traceback; lmforge's own errors and bugs pass as they are."""
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.tracking.mlflow_run import mlflow_uri

    try:
        yield
    except (MlflowException, OSError) as exc:
        raise RegistrationIncompleteError(
            f"MLflow at {mlflow_uri()} failed while {doing} ({_first_line(exc)}); {left}: re-run `lmforge register "
            f"--run {run}` to finish"
        ) from exc


def check_not_foreign(name: str) -> None:
    """Refuse a registered model name whose versions another project registered (no `lmforge.*` tag): on a shared
    MLflow server lmforge would add its version among theirs, move their @candidate to it, and judge it against
    their @champion, which has no lmforge lineage to score on."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.errors import ConfigError

    try:
        versions = MlflowClient().search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":  # no such model yet: register creates it
            return
        # Any other answer (a 503 while the server restarts, a refused connection) skipped the check silently, and
        # the registration went on to add its version among another project's.
        raise store_error(exc, f"checking whether registered model {name!r} belongs to another project") from exc
    foreign = sorted(int(v.version) for v in versions if not any(k.startswith("lmforge.") for k in (v.tags or {})))
    if foreign:
        shown = ", ".join(f"v{v}" for v in foreign[:5]) + (" …" if len(foreign) > 5 else "")
        raise ConfigError(
            f"registry.model_name: {name!r} is a registered model of another project (versions {shown} were not "
            "registered by lmforge); register under a name of your own (`lmforge register --model-name NAME`, or "
            "[registry] model_name). Nothing was registered"
        )


def _open_run(workspace: Path, lineage: L.Lineage) -> tuple[Any, str | None]:
    """Reopen the training run (so the model sits next to its metrics), or start one when training did not track;
    also returns the reopened run's status (None for a new run)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.tracking.mlflow_run import ensure_experiment

    if lineage.mlflow_run_id:
        try:
            training = mlflow.get_run(lineage.mlflow_run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                # a store restarting is no "run not in this store": the model went to a new run, away from its
                # training run's metrics, for good
                raise store_error(exc, f"reopening MLflow run {lineage.mlflow_run_id}") from exc
            training = None
        if training is not None and training.info.lifecycle_stage != "deleted":
            with _step(lineage.run_id, f"reopening MLflow run {lineage.mlflow_run_id}", "nothing was registered"):
                return mlflow.start_run(run_id=lineage.mlflow_run_id), training.info.status
        log.warning(
            "MLflow run %s of %s is %s; starting a new run",
            lineage.mlflow_run_id,
            lineage.run_dir,
            "deleted" if training is not None else "not in this store",
        )
    with _step(lineage.run_id, "starting an MLflow run for the model", "nothing was registered"):
        experiment_id = ensure_experiment(workspace)
        return mlflow.start_run(experiment_id=experiment_id, run_name=f"register-{lineage.run_id}"), None


def _versions_of(name: str, sha: str) -> tuple[list[Any], int]:
    """The versions of `name` registered from the checkpoint with weights sha256 `sha`, oldest first, and the
    newest version number of `name` (0 when it has none)."""
    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(f"name = '{name}'")
    newest = max((int(v.version) for v in versions), default=0)
    return sorted((v for v in versions if v.tags.get(L.CHECKPOINT_TAG) == sha), key=lambda v: int(v.version)), newest


def _metrics_of(name: str, v: Any, lineage: L.Lineage, config: RegistryConfig) -> dict[str, float]:
    """The eval metrics of an existing version: its `lmforge.eval.*` tags, else (tags deleted, edited into no number,
    or never written) its run's `registry.*` metrics, else the checkpoint evaluated again; the tags are written back."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    keys = ("val_bpb", "val_loss", "val_ppl", "val_tokens")
    metrics = {}
    for key, text in v.tags.items():
        if key.startswith("lmforge.eval."):
            with contextlib.suppress(ValueError):  # edited in the UI into no number: taken from the run instead
                metrics[key.removeprefix("lmforge.eval.")] = float(text)
    if all(k in metrics for k in keys):
        return metrics
    client = MlflowClient()
    try:
        logged = client.get_run(v.run_id).data.metrics if v.run_id else {}
    except MlflowException:
        logged = {}
    metrics = {k: float(logged[f"registry.{k}"]) for k in keys if f"registry.{k}" in logged}
    if not all(k in metrics for k in keys):
        with tempfile.TemporaryDirectory(prefix="lmforge-package-") as tmp:
            artifacts = stage_artifacts(lineage.checkpoint, lineage.tokenizer_model, Path(tmp))
            metrics = candidate_metrics(artifacts, lineage.shards.path, config)
    with _step(lineage.run_id, f"restoring the eval tags of {name} version {v.version}", "no alias moved"):
        for key, value in metrics.items():
            client.set_model_version_tag(name, str(v.version), f"lmforge.eval.{key}", f"{value:.6g}")
    log.info("%s version %s had no eval tags: restored (val bpb %.4f)", name, v.version, metrics["val_bpb"])
    return metrics


def _registered_before(
    name: str, lineage: L.Lineage, sha: str, config: RegistryConfig | None = None
) -> Registered | None:
    """The version already registered from this exact checkpoint (weights sha256 `sha`), so re-running a finished
    chain registers nothing new. When that version is the newest but lacks @candidate (the run that created it
    died before the alias moved), the alias is set now."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        same, newest = _versions_of(name, sha)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":  # a 503 is no "not registered yet": that made a duplicate
            raise store_error(exc, f"looking up the versions of {name!r}") from exc
        return None
    if not same:
        return None
    v = same[0]
    metrics = _metrics_of(name, v, lineage, config or RegistryConfig())
    # registered by an lmforge that did not check: no alias moves to it (and the flow stops before its gate)
    check_finite(
        metrics,
        f"{lineage.checkpoint} (registered as {name} version {v.version})",
        f"No alias moved to version {v.version}",
    )
    with _step(lineage.run_id, f"moving @{CANDIDATE} to {name} version {v.version}", f"@{CANDIDATE} not moved"):
        if int(v.version) == newest and CANDIDATE not in aliases_of(name, str(v.version)):
            MlflowClient().set_registered_model_alias(name, CANDIDATE, str(v.version))
            log.info("%s version %s had no @%s (an earlier registration stopped early): set", name, newest, CANDIDATE)
    log.info("checkpoint %s is already registered as %s version %s: skipped", lineage.checkpoint, name, v.version)
    return Registered(name, str(v.version), v.run_id, f"models:/{name}/{v.version}", metrics, lineage)


def _first_of_its_checkpoint(name: str, version: str, sha: str) -> bool:
    """Whether `version` is the lowest version of `name` registered from the checkpoint with this sha256; if not,
    it is deleted. Two registrations of one checkpoint at once (a retried flow run beside the original, a backfill
    beside the schedule) both find no version in `_registered_before` and both create one: each then keeps the
    lowest and deletes its own if it is not that one, so one version stays whatever the interleaving."""
    from mlflow import MlflowClient

    same, _ = _versions_of(name, sha)
    if not same or int(same[0].version) >= int(version):
        return True
    log.info("%s version %s duplicates an earlier version of the same checkpoint: deleted", name, version)
    MlflowClient().delete_model_version(name, version)
    return False


def _move_candidate(name: str, version: str) -> None:
    """Point @candidate at `version`, unless a newer version took it meanwhile: two registrations of different runs
    at once (a backfill beside the schedule) left @candidate on the older when its alias move came last. MLflow has
    no compare-and-set for aliases; the window left is that of two requests, not of a registration."""
    from mlflow import MlflowClient

    client = MlflowClient()
    now = (client.get_registered_model(name).aliases or {}).get(CANDIDATE)
    if now is not None and int(now) > int(version):
        log.info("%s: @%s stays on version %s, registered after version %s", name, CANDIDATE, now, version)
        return
    client.set_registered_model_alias(name, CANDIDATE, version)


def register(
    workspace: str | Path,
    run_dir: str | Path,
    config: RegistryConfig | None = None,
    flow_run: dict[str, str | None] | None = None,
) -> Registered:
    """Package, evaluate, log and register the run's newest checkpoint; the new version gets alias `candidate`.

    `flow_run` ({"flow_run_id", "flow_run_url", …}) is recorded as tags; the promotion gate is a separate step.
    MLflow is pointed at the workspace's store (or MLFLOW_TRACKING_URI) for the call only: the caller's process is
    left pointed where it was, also when registering fails.
    """
    with mlflow_uris_kept():
        return _register(Path(workspace), Path(run_dir), config or RegistryConfig(), flow_run)


def _register(
    workspace: Path, run_dir: Path, config: RegistryConfig, flow_run: dict[str, str | None] | None
) -> Registered:
    if not run_dir.is_dir():
        raise NotFoundError(f"{run_dir}: no such run folder")
    try:
        use_tracking(workspace)
    except TrackingUnreachableError as exc:  # said here only: lineage and the gate read through it too
        raise TrackingUnreachableError(f"{exc}. Nothing was registered") from exc
    checkpoint = checkpoint_of(run_dir)
    check_finished(run_dir)
    check_not_foreign(config.model_name)
    lineage = L.collect(run_dir, checkpoint, workspace)
    sha = sha256_file(lineage.checkpoint / "model.pt")
    existing = _registered_before(config.model_name, lineage, sha, config)
    if existing is not None:
        return existing
    with tempfile.TemporaryDirectory(prefix="lmforge-package-") as tmp:
        artifacts = stage_artifacts(lineage.checkpoint, lineage.tokenizer_model, Path(tmp))
        smoke_check(artifacts, config.smoke_tokens)
        metrics = candidate_metrics(artifacts, lineage.shards.path, config)
        check_finite(metrics, str(lineage.checkpoint))  # before anything is logged
        version_tags = L.tags(lineage, metrics, flow_run) | {"lmforge.package_sha256": package_sha256(artifacts)}
        run_id, info = _log_package(workspace, lineage, artifacts, metrics, version_tags)
    name = config.model_name
    version = str(_create_version(name, lineage, run_id, info, version_tags).version)
    left = f"version {version} registered, @{CANDIDATE} not moved"
    with _step(lineage.run_id, f"checking {name} version {version} for an earlier copy", left):
        first = _first_of_its_checkpoint(name, version, sha)
    if not first:
        earlier = _registered_before(name, lineage, sha, config)
        if earlier is not None:
            return earlier
    with _step(lineage.run_id, f"moving @{CANDIDATE} to {name} version {version}", left):
        _move_candidate(name, version)
    log.info(
        "registered %s version %s (run %s) as @%s, val bpb %.4f", name, version, run_id, CANDIDATE, metrics["val_bpb"]
    )
    return Registered(name, version, run_id, f"models:/{name}/{version}", metrics, lineage)


def _log_package(
    workspace: Path, lineage: L.Lineage, artifacts: dict[str, str], metrics: dict[str, float], tags: dict[str, str]
) -> tuple[str, Any]:
    """Log the lineage (tags, dataset inputs, metrics, lineage.json) and the pyfunc package into the training's MLflow
    run, reopened, or a new one; returns (MLflow run id, the package's ModelInfo)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    run, prior_status = _open_run(workspace, lineage)
    run_id = run.info.run_id
    # A failed registration must not mark the reopened training run FAILED: its training did not fail.
    kept = prior_status if prior_status in ("FINISHED", "KILLED") else None
    status = kept or "FAILED"
    try:
        with _step(
            lineage.run_id,
            f"logging the lineage to MLflow run {run_id}",
            f"MLflow run {run_id} holds part of it and no model; no version was registered",
        ):
            mlflow.set_tags(tags)
            datasets.log_inputs(lineage)
            mlflow.log_metrics({f"registry.{k}": v for k, v in metrics.items()})
            mlflow.log_dict(lineage.to_dict(), "lineage.json")
        with _step(
            lineage.run_id,
            f"logging the model package to MLflow run {run_id}",
            f"MLflow run {run_id} holds the lineage but no model; no version was registered",
        ):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=LmforgeLanguageModel(),
                artifacts=artifacts,
                signature=signature(),
                pip_requirements=pip_requirements(),
            )
        status = kept or "FINISHED"
    finally:
        try:
            mlflow.end_run(status=status)
        except (MlflowException, OSError) as exc:
            # MLflow closes the run in this process before it asks the store: only the status shown is lost, and an
            # error here hid the step's own
            log.warning("MLflow could not mark run %s %s (%s)", run_id, status, _first_line(exc))
    return run_id, info


def _create_version(name: str, lineage: L.Lineage, run_id: str, info: Any, tags: dict[str, str]) -> Any:
    """Register the logged package as a new version of `name`, with every tag at creation, among them the digest of
    each file of the package as MLflow serves it (what `lineage --verify` re-hashes)."""
    import mlflow

    logged = f"the model is logged to MLflow run {run_id}, no version was registered"
    with _step(lineage.run_id, f"reading back the files of model package {info.model_id}", logged):
        files = json.dumps(L.logged_package_files(info.model_id), sort_keys=True)
    tags = tags | {"lmforge.package_model_id": info.model_id}  # where `lineage --verify` finds the package
    if len(files) <= L.TAG_LIMIT:
        tags[L.PACKAGE_FILES_TAG] = files
    else:  # MLflow refuses the version with it; `lineage --verify` notes the package files as not recorded
        log.warning("model package %s has too many files to record their digests in a tag", info.model_id)
    with _step(
        lineage.run_id,
        f"registering the model of MLflow run {run_id} as a version of {name}",
        f"the model is logged to MLflow run {run_id}; no alias moved (the version may have been created)",
    ):
        return mlflow.register_model(info.model_uri, name, tags=tags)


def load_pyfunc(ref: str, workspace: str | Path | None = None) -> Any:
    """`mlflow.pyfunc.load_model(ref)`; a registered version (`models:/…`) whose package lay in `workspace`'s local
    artifact store when it was registered is loaded from where the workspace is now: the SQLite store records
    absolute paths, which a moved workspace (`mv ws elsewhere`) leaves behind."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(_package_here(ref, workspace) or ref)


def _package_here(ref: str, workspace: str | Path | None) -> str | None:
    """The moved package folder of registered version `ref`, or None where MLflow's own path is right."""
    if workspace is None or not ref.startswith("models:/"):
        return None
    from mlflow import MlflowClient

    version = resolve_version(ref)
    tags = dict(version.tags)
    model_id = tags.get("lmforge.package_model_id")
    if not model_id:
        return None
    recorded = MlflowClient().get_logged_model(model_id).artifact_location
    here = L.local_artifact_dir(recorded, tags, workspace)
    return str(here) if here is not None and here.is_dir() and here.as_uri() != recorded else None
