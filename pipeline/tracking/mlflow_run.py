"""MLflow for a training run: the only module (with its package) that imports mlflow.

Tracking URI from `MLFLOW_TRACKING_URI`, else `sqlite:///<ws>/mlflow.db`; with a SQLite store the
experiment's artifacts go under `<ws>/mlartifacts`. MLflow is pointed there from `Tracker.start` to `Tracker.end` only:
the process's URIs are what its caller had before and after.
Metrics are buffered and sent with `log_batch` every few steps. Params are the flattened config; tags carry ids
(shards, tokenizer, run folder, git sha, Prefect flow run) — never document text. A resumed run continues its MLflow
run and logs each metric step once: the steps it recomputes after its last checkpoint are already there.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "lmforge"
MAX_BUFFERED = 1_000_000
"""Metrics kept while the store does not answer (~100 MB); past it the oldest go (the run folder keeps them all)."""


def mlflow_uri() -> str:
    """The tracking URI in use, as logs may show it."""
    import mlflow

    from lmforge.pipeline.urls import shown_url

    return shown_url(mlflow.get_tracking_uri())


def tracking_uri(workspace: str | Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(workspace).resolve() / 'mlflow.db'}"


def point_mlflow(uri: str, registry_uri: str | None = None) -> None:
    """Point this process's MLflow at `uri` (and `registry_uri`) without leaving them in the environment. MLflow's
    setters also write MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, which lmforge reads as the user's choice: the
    next workspace of the process would log and register into this one's store."""
    import mlflow

    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    try:
        mlflow.set_tracking_uri(uri)
        if registry_uri:
            mlflow.set_registry_uri(registry_uri)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def mlflow_uris_kept() -> Iterator[None]:
    """Leave MLflow's process-wide tracking and registry URIs, and MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, as they
    were on entry, whatever happens inside: a library call that points MLflow at a workspace's store left its caller
    there, whose next `mlflow.get_run` or `MlflowClient()` then read and wrote that store instead of its own."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    # What was set, not what `get_tracking_uri()` resolves: an unset URI follows MLFLOW_TRACKING_URI, and setting it
    # back to the value that variable had (or to MLflow's default, `sqlite:///mlflow.db` in the current folder) would
    # pin it there.
    tracking, registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    try:
        yield
    finally:
        if tracking is None:
            # follow the environment again; MLflow's setter would also unset MLFLOW_TRACKING_URI until it is put back
            # below, and a backfill's other threads, still registering, would meanwhile resolve MLflow's default store
            tracking_utils._tracking_uri = None
        else:
            mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def ensure_experiment(workspace: str | Path, name: str = EXPERIMENT) -> str:
    """Point MLflow at the workspace (or the env URI) and return the id of experiment `name`, creating it with
    `<ws>/mlartifacts` as artifact location when the store is the workspace's own SQLite file."""
    import mlflow

    uri = tracking_uri(workspace)
    point_mlflow(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage == "deleted":
        # Deleted in the UI: its name stays taken until `mlflow gc`, and MLflow refuses runs in it with "must be in
        # the 'active' state". Restoring it would bring back the runs the user deleted, so the choice is theirs.
        from lmforge.pipeline.errors import LmforgeError

        raise LmforgeError(
            f"MLflow experiment {name!r} (id {experiment.experiment_id}) at {mlflow_uri()} is deleted: restore it "
            f"(`mlflow experiments restore --experiment-id {experiment.experiment_id}`), remove it for good "
            f"(`mlflow gc --experiment-ids {experiment.experiment_id}`), or set train.tracking.experiment to another "
            "name"
        )
    if experiment is not None:
        follow_workspace(workspace, name)
        return experiment.experiment_id
    # A local SQLite store keeps its artifacts in the workspace too; a server decides for itself.
    location = (Path(workspace).resolve() / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created concurrently by another process
        created = mlflow.get_experiment_by_name(name)
        if created is None:  # it was not that (a 503, a read-only store): an AttributeError on None hid the reason
            raise
        return created.experiment_id


def follow_workspace(workspace: str | Path, name: str = EXPERIMENT) -> None:
    """Point the artifact paths of the workspace's own SQLite store at `<ws>/mlartifacts` when the workspace was
    moved or copied since: the store records them absolute, so new and resumed runs (and registrations) wrote their
    artifacts at the old place, recreating it, or into the original of a copy. MLflow has no API to change an
    experiment's artifact location, hence the SQL on lmforge's own file; a server's store is left alone."""
    import sqlite3

    db = Path(workspace).resolve() / "mlflow.db"
    here = (db.parent / "mlartifacts").as_uri()
    if tracking_uri(workspace) != f"sqlite:///{db}" or not db.is_file():
        return
    with contextlib.closing(sqlite3.connect(db, timeout=60)) as con:
        try:
            row = con.execute("SELECT artifact_location FROM experiments WHERE name = ?", (name,)).fetchone()
        except sqlite3.OperationalError:  # a store MLflow has not set up yet
            return
    location = row[0] if row else here
    if location == here or not location.startswith("file:") or not location.endswith("/mlartifacts"):
        return  # not lmforge's own layout: left as it is
    old = location
    columns = (
        ("experiments", "artifact_location"),
        ("runs", "artifact_uri"),
        ("logged_models", "artifact_location"),
        ("model_versions", "storage_location"),
    )
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=60)) as con, con:
            for table, column in columns:
                con.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?) = ?",
                    (here, len(old) + 1, len(old), old),
                )
    except sqlite3.OperationalError as exc:  # a read-only copy: reading (lineage, generate) still works from it
        log.warning("workspace moved or copied from %s, but its MLflow store could not be updated (%s)", old, exc)
        return
    # MLflow caches each run's artifact folder per process: a run opened before the rewrite would log at the old place.
    with contextlib.suppress(ImportError, AttributeError):
        from mlflow.tracking._tracking_service import utils

        utils._artifact_repos_cache.clear()
    log.warning("workspace moved or copied from %s: its MLflow store now keeps artifacts under %s", old, here)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"optim": {"lr": 1e-3}} → {"optim.lr": "0.001"}: MLflow params are flat strings."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def _continuable(run_id: str) -> bool:
    """Whether the current store holds run `run_id`, not deleted (run.json may name a run of another
    MLFLOW_TRACKING_URI, or of a mlflow.db deleted since); a store that does not answer still raises."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        if MlflowClient().get_run(run_id).info.lifecycle_stage != "deleted":
            return True
        why = "deleted"
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        why = "not in this store"
    log.warning("MLflow run %s of this training run is %s; continuing in a new MLflow run", run_id, why)
    return False


def _deleted(run_id: str | None, exc: Exception) -> str | None:
    """Why the store refuses run `run_id` for good, when that is why `exc` was raised: the run, or its experiment, was
    deleted while training (MLflow then refuses every write with INVALID_PARAMETER_VALUE, "must be in the 'active'
    state"), or purged since (`mlflow gc`: RESOURCE_DOES_NOT_EXIST). None for anything else, such as a server that
    does not answer, which the next flush tries again."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if run_id is None or not isinstance(exc, MlflowException):
        return None
    if exc.error_code not in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
        return None
    try:  # the store answered: ask it about the run rather than parse its message
        client = MlflowClient()
        try:
            run = client.get_run(run_id)
        except MlflowException as lookup:
            return "it is no longer in the store (purged)" if lookup.error_code == "RESOURCE_DOES_NOT_EXIST" else None
        if run.info.lifecycle_stage != "deleted":
            return None
        experiment = client.get_experiment(run.info.experiment_id)
    except Exception:  # noqa: BLE001 - no answer now: taken for an outage, as the write's own failure was
        return None
    if experiment.lifecycle_stage == "deleted":
        return f"its experiment {experiment.name!r} (id {experiment.experiment_id}) was deleted"
    return "it was deleted"


COPIED_FROM_TAG = "lmforge.copied_from_mlflow_run"
"""Tag of an MLflow run started for a copied run folder: the MLflow run it forked from (the trainer sets it)."""

LINEAGE_MAX = 32
"""Most forks followed back by `Tracker.history` (a copy of a copy …); also what stops a cycle of tags."""


def _lineage(run_id: str | None) -> list[str]:
    """`run_id` and the runs it forked from by COPIED_FROM_TAG, oldest first; a run the store no longer holds (or
    holds deleted) ends the chain there, so a fork whose original was deleted still resumes."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    chain: list[str] = []
    while run_id and run_id not in chain and len(chain) < LINEAGE_MAX:
        try:
            run = MlflowClient().get_run(run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            log.warning("MLflow run %s, forked from, is not in this store: its history is not used", run_id)
            break
        if run.info.lifecycle_stage == "deleted":
            log.warning("MLflow run %s, forked from, is deleted: its history is not used", run_id)
            break
        chain.append(run_id)
        run_id = run.data.tags.get(COPIED_FROM_TAG)
    return chain[::-1]


def last_steps(run_id: str) -> dict[str, int]:
    """The last step logged for each metric of a run. System metrics are left out: MLflow continues their steps
    itself when a run is resumed."""
    from mlflow import MlflowClient

    client = MlflowClient()
    keys = [k for k in client.get_run(run_id).data.metrics if not k.startswith("system/")]
    return {k: max(m.step for m in client.get_metric_history(run_id, k)) for k in keys}


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a Tracker method that calls the store inside the tracker's `guard` (see `Tracker.guard`)."""

    @functools.wraps(method)
    def call(self: Tracker, *args: Any, **kwargs: Any) -> Any:
        with self.guard():
            return method(self, *args, **kwargs)

    return call


class Tracker:
    """One MLflow run, driven by rank 0 (every method is a no-op when `enabled` is false)."""

    def __init__(
        self, workspace: str | Path, *, enabled: bool = True, experiment: str = EXPERIMENT, system_metrics: bool = True
    ) -> None:
        self.workspace = Path(workspace)
        self.enabled = enabled
        self.experiment = experiment
        self.system_metrics = system_metrics and importlib.util.find_spec("psutil") is not None
        self.run_id: str | None = None
        self._buffer: list[Any] = []
        self._outage = False
        self.deleted: str | None = None
        """Why the MLflow run was gone while training (deleted, or its experiment deleted), once a write found it so:
        nothing more is sent then, and training goes on."""
        self._logged_to: dict[str, int] = {}
        """Per metric, the last step the continued MLflow run already holds (empty for a new run)."""
        self._history_runs: list[str] = []
        """The runs `history` reads, oldest first: the forks this run comes from, then the run itself."""
        self.guard: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        """Entered around every call into the store: training sets it to hold a stop signal until the call returns
        (`signals.StopSignals.deferred`); an interrupt inside a SQLite write broke the store's session."""
        self._caller_uris = contextlib.ExitStack()
        """Puts the caller's MLflow URIs back (`mlflow_uris_kept`) when the run ends: MLflow points at the workspace's
        store from `start` to `end` only."""

    @property
    def live(self) -> bool:
        """Whether this tracker logs: enabled, and its MLflow run not deleted under it."""
        return self.enabled and self.deleted is None

    def _gone(self, exc: Exception) -> bool:
        """Whether `exc` says the run was deleted (see `_deleted`); the first time, say so once and drop what waits
        to be sent: a deleted run takes nothing, and retrying at every flush would only fail again."""
        if self.deleted is not None:
            return True
        why = _deleted(self.run_id, exc)
        if why is None:
            return False
        self.deleted = why
        log.warning(
            "MLflow run %s at %s was deleted while training (%s): training goes on and checkpoints as before, but "
            "nothing more is logged to MLflow (%d buffered metric(s) dropped); the run folder's metrics.jsonl holds "
            "every step",
            self.run_id,
            mlflow_uri(),
            why,
            len(self._buffer),
        )
        self._buffer.clear()
        return True

    @_guarded
    def start(
        self,
        *,
        run_name: str,
        params: dict[str, Any],
        tags: dict[str, str],
        run_id: str | None = None,
        history_from: str | None = None,
    ) -> str | None:
        """Start (or, given `run_id`, continue) the run; returns its id. A run the store does not hold is replaced
        by a new one: losing the link to old metrics is better than a resume that cannot start.

        `history_from` names the MLflow run a new one forks from (a copied run folder): `history` then also returns
        that run's points before the fork, which the new run does not hold. Left out, it is read from the
        COPIED_FROM_TAG of `tags`, or of the continued run, so a fork resumed later keeps its history too.
        """
        if not self.enabled:
            return None
        # MLflow's URIs are process-wide and the run logs through them; a library caller (a notebook, a test, an
        # in-process `Trainer.fit`) was left pointed at this workspace's store for good: `end` puts its own back.
        self._caller_uris.enter_context(mlflow_uris_kept())
        try:
            return self._start(run_name, params, tags, run_id, history_from)
        except BaseException:
            self._caller_uris.close()
            raise

    def _start(
        self, run_name: str, params: dict[str, Any], tags: dict[str, str], run_id: str | None, history_from: str | None
    ) -> str:
        import mlflow

        experiment_id = ensure_experiment(self.workspace, self.experiment)
        if run_id is not None and not _continuable(run_id):
            run_id = None
        run = mlflow.start_run(
            run_id=run_id,
            experiment_id=None if run_id else experiment_id,
            run_name=None if run_id else run_name,
            log_system_metrics=self.system_metrics,
        )
        self.run_id = run.info.run_id
        try:
            if run_id is not None:
                history_from = history_from or run.data.tags.get(COPIED_FROM_TAG)
            history_from = history_from or tags.get(COPIED_FROM_TAG)
            mlflow.set_tags(tags if not history_from else {COPIED_FROM_TAG: history_from, **tags})
            if run_id is None:
                mlflow.log_params(flatten(params))
            else:
                self._logged_to = last_steps(run_id)
            self._history_runs = [*(_lineage(history_from) if history_from != self.run_id else []), self.run_id]
        except BaseException:
            # left active, the run made every later start_run of this process fail ("already active")
            mlflow.end_run(status="FAILED")
            self.run_id = None
            raise
        return self.run_id

    @_guarded
    def history(self, key: str, up_to: int) -> list[tuple[int, float]]:
        """(step, value) of metric `key` the run already holds, up to step `up_to`, one per step in step order (a step
        logged twice keeps its last value): what a continued run logged before it was resumed.

        A forked run (see `start`) gets its original's points too, before the first step it holds itself: from there
        on the fork's own points are the truth, and the original may have trained on past the fork differently.
        """
        if not self.enabled or self.run_id is None:
            return []
        from mlflow import MlflowClient

        client = MlflowClient()
        merged: dict[int, float] = {}
        for run_id in self._history_runs:
            if run_id == self.run_id and key not in self._logged_to:
                continue  # a new run holds nothing yet
            points = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
            own = {m.step: m.value for m in points if m.step <= up_to}
            if own:  # a later run of the lineage replaces its forebears from its first step on
                merged = {step: value for step, value in merged.items() if step < min(own)}
                merged.update(own)
        return sorted(merged.items())

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Buffer one step's metrics; a step the continued run already holds is skipped, so steps never repeat."""
        if not self.live:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._buffer += [
            Metric(key=k, value=float(v), timestamp=now, step=step)
            for k, v in metrics.items()
            if k not in self._logged_to or step > self._logged_to[k]
        ]

    @_guarded
    def flush(self) -> None:
        """Send the buffered metrics. A store that does not answer (a server restarting) is no reason to stop a
        training run: what it did not take stays buffered, is sent at the next flush, and the outage is logged once.
        metrics.jsonl in the run folder holds every step meanwhile."""
        if not self.live or not self._buffer:
            return
        from mlflow import MlflowClient

        try:
            client = MlflowClient()
            while self._buffer:
                client.log_batch(self.run_id, metrics=self._buffer[:1000])  # MLflow's per-request metric limit
                del self._buffer[:1000]
        except Exception as exc:  # noqa: BLE001 - MlflowException, or requests/urllib3 errors under it
            if self._gone(exc):  # no outage: it will not answer for this run again
                return
            if not self._outage:
                log.warning(
                    "MLflow at %s did not take %d metric(s) (%s); training goes on, they are sent when it answers",
                    mlflow_uri(),
                    len(self._buffer),
                    str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__,
                )
            self._outage = True
            if len(self._buffer) > MAX_BUFFERED:
                del self._buffer[: len(self._buffer) - MAX_BUFFERED]  # the oldest go; metrics.jsonl keeps them all
            return
        if self._outage:
            log.warning("MLflow at %s answers again; the buffered metrics were sent", mlflow_uri())
            self._outage = False

    @_guarded
    def log_loss_plot(self, train: list[tuple[int, float]], val: list[tuple[int, float]]) -> None:
        """A loss-curve PNG artifact. Drawn on a bare `Figure`, not through pyplot: no display is needed, and
        `matplotlib.use("Agg")` switched the backend of the whole process, so a notebook that trained in-process showed
        no plot of its own afterwards."""
        if not self.live or not train:
            return
        import mlflow
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4))
        ax = fig.subplots()
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1)
        if val:
            ax.plot(*zip(*val, strict=True), "o-", label="val loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend()
        self._artifact(mlflow.log_figure, fig, "loss_curve.png")

    @_guarded
    def log_samples(self, prompts: list[str], completions: list[str], step: int) -> None:
        """Generated text for fixed prompts, as an MLflow table artifact (model output, not training data)."""
        if not self.live or not prompts:
            return
        import mlflow

        table = {"step": [step] * len(prompts), "prompt": prompts, "completion": completions}
        self._artifact(mlflow.log_table, table, artifact_file="samples.json")

    def _artifact(self, log_fn: Any, *args: Any, **kwargs: Any) -> None:
        """Log an artifact at the end of a run; a store that does not answer then costs the artifact, not the run
        (its checkpoint and metrics.jsonl are written already)."""
        try:
            log_fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MlflowException, or the HTTP/artifact store's own errors
            if self._gone(exc):
                return
            log.warning("MLflow at %s did not take an artifact of run %s (%s)", mlflow_uri(), self.run_id, exc)

    @_guarded
    def end(self, status: str = "FINISHED") -> None:
        """Close the run as `status` and point MLflow back where the caller had it before `start`."""
        try:
            self._end(status)
        finally:
            self._caller_uris.close()

    def _end(self, status: str) -> None:
        if not self.enabled or self.run_id is None:
            return
        import mlflow

        self.flush()
        try:
            mlflow.end_run(status=status)  # ends this process's active run even where the store refuses the status
        except Exception as exc:  # noqa: BLE001 - the run's outputs are on disk; its MLflow status is cosmetic
            if self._gone(exc):
                return
            log.warning("MLflow at %s could not close run %s as %s (%s)", mlflow_uri(), self.run_id, status, exc)
        if self._buffer:
            log.warning(
                "MLflow run %s lacks %d metric(s) its store did not take; the run folder's metrics.jsonl holds "
                "every step",
                self.run_id,
                len(self._buffer),
            )
