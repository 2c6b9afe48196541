"""The training run's MLflow tracker against a real MLflow store (SQLite in a temporary workspace): resumed runs and
a run that is gone from the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmforge.pipeline.tracking.mlflow_run import Tracker, mlflow_uris_kept


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """A fresh workspace whose own SQLite store the tracker uses; MLflow points where it did before afterwards."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with mlflow_uris_kept():
        yield tmp_path / "ws"


def _client(workspace: Path):
    from mlflow import MlflowClient

    from lmforge.pipeline.tracking.mlflow_run import tracking_uri

    return MlflowClient(tracking_uri(workspace))


def test_resumed_run_logs_each_step_once(workspace: Path) -> None:
    """A crash after step 8 with the last checkpoint at step 5: the resumed run recomputes steps 6-8, which MLflow
    already holds; each step must appear once, in order, or the charts zig-zag."""
    first = Tracker(workspace, system_metrics=False)
    run_id = first.start(run_name="r", params={"lr": 0.1}, tags={})
    for step in range(1, 9):
        first.log_metrics({"loss": 10.0 - step}, step)
    first.log_metrics({"val_loss": 3.0}, 5)
    first.end("KILLED")

    resumed = Tracker(workspace, system_metrics=False)
    assert resumed.start(run_name="r", params={"lr": 0.1}, tags={}, run_id=run_id) == run_id
    for step in range(6, 11):
        resumed.log_metrics({"loss": 10.0 - step}, step)
        if step == 10:
            resumed.log_metrics({"val_loss": 2.0}, step)
    resumed.end()

    client = _client(workspace)
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(1, 11))
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "val_loss")] == [(5, 3.0), (10, 2.0)]
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize("gone", ["not in the store", "deleted"])
def test_resuming_a_run_the_store_does_not_hold_starts_a_new_one(workspace: Path, gone: str, caplog) -> None:
    """run.json names an MLflow run of another store (MLFLOW_TRACKING_URI changed, mlflow.db deleted) or one deleted
    in the UI: training resumes with a new MLflow run instead of dying on MLflow's "Run … not found"."""
    old_id = "0123456789abcdef0123456789abcdef"
    if gone == "deleted":
        old = Tracker(workspace, system_metrics=False)
        old_id = old.start(run_name="r", params={"lr": 0.1}, tags={})
        old.end("KILLED")
        _client(workspace).delete_run(old_id)
    tracker = Tracker(workspace, system_metrics=False)
    with caplog.at_level(logging.WARNING, logger="lmforge.pipeline.tracking.mlflow_run"):
        run_id = tracker.start(run_name="r", params={"lr": 0.1}, tags={"lmforge.shards": "s"}, run_id=old_id)
    tracker.log_metrics({"loss": 1.0}, 6)
    tracker.end()
    assert run_id and run_id != old_id
    run = _client(workspace).get_run(run_id)
    assert run.data.params == {"lr": "0.1"} and run.data.tags["lmforge.shards"] == "s"
    assert run.data.metrics == {"loss": 1.0}
    assert old_id in caplog.text and "new MLflow run" in caplog.text


def test_each_workspace_of_a_process_tracks_into_its_own_store(tmp_path: Path, monkeypatch) -> None:
    """MLflow's set_tracking_uri / set_registry_uri also write MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI into the
    environment, which lmforge reads as the user's choice: the second workspace of a process (a notebook, a test
    session, an in-process flow) logged its runs and registered its models into the first workspace's mlflow.db."""
    import mlflow

    from lmforge.pipeline.registry.registry import use_tracking
    from lmforge.pipeline.tracking.mlflow_run import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    first, second = tmp_path / "first", tmp_path / "second"
    with mlflow_uris_kept():  # `use_tracking` points MLflow at a workspace for good, as the CLI wants it
        runs = {}
        for ws in (first, second):
            tracker = Tracker(ws, system_metrics=False)
            runs[ws] = tracker.start(run_name=ws.name, params={}, tags={})
            tracker.end()
            assert use_tracking(ws) == tracking_uri(ws) == f"sqlite:///{ws.resolve() / 'mlflow.db'}"
            assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == tracking_uri(ws)
        assert _client(second).get_run(runs[second]).info.run_name == "second"


def _pointing() -> tuple[str | None, ...]:
    """What MLflow was told to use (None: not set) and the two environment variables it also follows."""
    import os

    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    return tracking_utils._tracking_uri, registry_utils._registry_uri, *env


@pytest.mark.parametrize("caller", ["unset", "env", "elsewhere"])
@pytest.mark.parametrize("outcome", ["finished", "refused"])
def test_a_tracked_run_leaves_mlflow_pointed_where_the_caller_had_it(
    tmp_path: Path, monkeypatch, caller: str, outcome: str
) -> None:
    """`Tracker.start` pointed the process's MLflow at the workspace's store for good: a library caller (a notebook,
    a test, an in-process `Trainer.fit`) then read and wrote that store, and a caller that had set nothing was pinned
    to it even after MLFLOW_TRACKING_URI changed. The run itself logs into the workspace's store throughout."""
    import mlflow

    from lmforge.pipeline.errors import LmforgeError
    from lmforge.pipeline.tracking.mlflow_run import tracking_uri

    ws = tmp_path / "ws"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with mlflow_uris_kept():  # this test's own pointing ends with it, whatever the tracker does
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'caller.db'}" if caller == "elsewhere" else None)
        mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'caller-registry.db'}" if caller == "elsewhere" else None)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow's setters wrote it
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        if caller == "env":  # the caller's choice by the environment, which the tracker follows too
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
        if outcome == "refused":
            client = _client(ws)
            client.delete_experiment(client.create_experiment("lmforge"))
        before = _pointing()
        tracker = Tracker(ws, system_metrics=False)
        if outcome == "refused":
            with pytest.raises(LmforgeError, match="is deleted"):
                tracker.start(run_name="r", params={}, tags={})
        else:
            run_id = tracker.start(run_name="r", params={"lr": 0.1}, tags={})
            assert mlflow.get_tracking_uri() == tracking_uri(ws)  # the run logs into the workspace's store
            tracker.log_metrics({"loss": 2.0}, 1)
            tracker.flush()
            tracker.log_samples(["The"], ["end"], step=1)
            tracker.end()
            run = _client(ws).get_run(run_id)
            assert run.data.metrics == {"loss": 2.0} and run.info.status == "FINISHED"
        assert _pointing() == before


def test_the_loss_plot_leaves_matplotlibs_backend_as_the_caller_had_it(workspace: Path) -> None:
    """`matplotlib.use("Agg")` switched the process's backend: a notebook that trained in-process (its inline
    backend) showed none of its own plots afterwards. The loss curve is still logged."""
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # any backend but Agg stands for the caller's
    try:
        tracker = Tracker(workspace, system_metrics=False)
        run_id = tracker.start(run_name="r", params={}, tags={})
        tracker.log_loss_plot([(1, 5.0), (2, 3.0)], [(2, 3.5)])
        tracker.end()
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)
    assert [a.path for a in _client(workspace).list_artifacts(run_id)] == ["loss_curve.png"]


def test_a_tracking_server_outage_does_not_stop_training_and_loses_no_metric(
    workspace: Path, monkeypatch, caplog
) -> None:
    """The MLflow server restarting mid-run made rank 0's flush raise, killing a training run (the other ranks then
    hung in their collectives). Metrics the store did not take are kept and sent once it answers again."""
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracker = Tracker(workspace, system_metrics=False)
    run_id = tracker.start(run_name="r", params={}, tags={})
    store = mlflow.get_tracking_uri()
    tracker.log_metrics({"loss": 5.0}, 1)
    tracker.flush()
    mlflow.set_tracking_uri("http://127.0.0.1:9")  # the server is down: nothing listens there
    with caplog.at_level(logging.WARNING, logger="lmforge.pipeline.tracking.mlflow_run"):
        for step in (2, 3):
            tracker.log_metrics({"loss": 5.0 - step}, step)
            tracker.flush()  # no exception: training goes on
        tracker.log_loss_plot([(1, 5.0), (2, 3.0)], [])  # an end-of-run artifact costs only itself
    assert sum("did not take 1 metric" in r.getMessage() for r in caplog.records) == 1  # said once per outage
    assert any("did not take an artifact" in r.getMessage() for r in caplog.records)
    mlflow.set_tracking_uri(store)  # back up
    tracker.log_metrics({"loss": 1.0}, 4)
    tracker.end()
    client = _client(workspace)
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [
        (1, 5.0),
        (2, 3.0),
        (3, 2.0),
        (4, 1.0),
    ]
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize("how", ["moved", "copied"])
def test_a_moved_or_copied_workspace_logs_its_artifacts_into_itself(tmp_path: Path, monkeypatch, how: str) -> None:
    """The SQLite store records the experiment's artifact folder as an absolute path: after `mv ws elsewhere` new
    and resumed runs wrote their artifacts back at the old path (recreating it), and a copy wrote into the original."""
    import shutil

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    old, new = tmp_path / "ws", tmp_path / "elsewhere" / "ws"
    tracker = Tracker(old, system_metrics=False)
    first = tracker.start(run_name="first", params={}, tags={})
    tracker.end()
    new.parent.mkdir()
    (shutil.move if how == "moved" else shutil.copytree)(old, new)
    logged = []
    for run_id in (None, first):  # a new run, and the first one resumed
        tracker = Tracker(new, system_metrics=False)
        logged.append(tracker.start(run_name="second", params={}, tags={}, run_id=run_id))
        tracker.log_samples(["The"], ["end"], step=1)
        tracker.end()
        assert _client(new).get_run(tracker.run_id).info.artifact_uri.startswith(new.resolve().as_uri() + "/")
    assert how == "copied" or not old.exists()
    assert sorted(p.parent.parent.name for p in new.rglob("samples.json")) == sorted(logged)
    if how == "copied":
        assert not list(old.rglob("samples.json"))


def _run_with_val(workspace: Path, points: dict[int, float], **start) -> str:
    tracker = Tracker(workspace, system_metrics=False)
    run_id = tracker.start(run_name="r", params={"lr": 0.1}, tags=start.pop("tags", {}), **start)
    for step, value in points.items():
        tracker.log_metrics({"val_loss": value}, step)
    tracker.end("KILLED")
    return run_id


def test_a_copied_run_folder_reads_the_val_history_before_the_fork(workspace: Path) -> None:
    """`cp -r runs/A runs/B` and training B starts a new MLflow run tagged with A's: B's loss curve (and the best val
    loss it keeps) lacked every val loss before the fork, which only A's run holds. A trained on past the fork (150),
    and B's own points replace A's from its first one."""
    from lmforge.pipeline.tracking.mlflow_run import COPIED_FROM_TAG

    original = _run_with_val(workspace, {50: 5.0, 100: 4.0, 150: 3.0})
    fork = Tracker(workspace, system_metrics=False)
    fork_id = fork.start(run_name="r", params={"lr": 0.1}, tags={COPIED_FROM_TAG: original})
    assert fork_id != original
    assert fork.history("val_loss", 100) == [(50, 5.0), (100, 4.0)]  # forked at the checkpoint of step 100
    fork.log_metrics({"val_loss": 3.5}, 150)
    fork.end("KILLED")

    resumed = Tracker(workspace, system_metrics=False)  # B resumed later: its run.json names its own MLflow run
    assert resumed.start(run_name="r", params={}, tags={}, run_id=fork_id) == fork_id
    assert resumed.history("val_loss", 150) == [(50, 5.0), (100, 4.0), (150, 3.5)]
    resumed.end()

    again = Tracker(workspace, system_metrics=False)  # a copy of the copy, named explicitly
    copy_id = again.start(run_name="r", params={}, tags={}, history_from=fork_id)
    assert again.history("val_loss", 150) == [(50, 5.0), (100, 4.0), (150, 3.5)]
    assert again.history("val_loss", 60) == [(50, 5.0)] and again.history("loss", 150) == []
    again.end()
    assert _client(workspace).get_run(copy_id).data.tags[COPIED_FROM_TAG] == fork_id  # kept for its resumes


def test_a_fork_whose_original_was_deleted_keeps_its_own_history(workspace: Path, caplog) -> None:
    from lmforge.pipeline.tracking.mlflow_run import COPIED_FROM_TAG

    original = _run_with_val(workspace, {50: 5.0})
    fork_id = _run_with_val(workspace, {100: 4.0}, tags={COPIED_FROM_TAG: original})
    _client(workspace).delete_run(original)
    resumed = Tracker(workspace, system_metrics=False)
    with caplog.at_level(logging.WARNING, logger="lmforge.pipeline.tracking.mlflow_run"):
        resumed.start(run_name="r", params={}, tags={}, run_id=fork_id)
    assert resumed.history("val_loss", 200) == [(100, 4.0)]
    assert f"{original}, forked from, is deleted" in caplog.text
    resumed.end()


def test_a_deleted_experiment_is_a_clear_error(workspace: Path) -> None:
    """Deleted in the UI, the experiment keeps its name until `mlflow gc` and MLflow refused every run in it with
    "must be in the 'active' state"; restoring it silently would bring back the runs the user deleted."""
    from lmforge.pipeline.errors import LmforgeError

    run_id = _run_with_val(workspace, {1: 1.0})
    client = _client(workspace)
    client.delete_experiment(client.get_run(run_id).info.experiment_id)
    for resume in (None, run_id):
        with pytest.raises(LmforgeError, match=r"MLflow experiment 'lmforge' .* is deleted: restore it"):
            Tracker(workspace, system_metrics=False).start(run_name="r", params={}, tags={}, run_id=resume)


def test_a_start_that_fails_leaves_no_active_run(workspace: Path) -> None:
    """A start that failed after MLflow opened the run (here a param name MLflow refuses) left it active: every
    later start of the process then failed with "Run … is already active"."""
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        Tracker(workspace, system_metrics=False).start(run_name="r", params={"bad name!": 1}, tags={})
    tracker = Tracker(workspace, system_metrics=False)
    assert tracker.start(run_name="r", params={"lr": 0.1}, tags={})
    tracker.end()


def test_long_params_many_params_and_non_finite_metrics_reach_the_store(workspace: Path) -> None:
    """MLflow's limits (6000 characters a param value, 100 params a request) and a NaN/inf loss must not stop
    training: a long sample_prompts list and a diverged step are real configs and real runs."""
    import math

    params = {"prompts": "x" * 7000, **{f"p{i}": i for i in range(250)}}
    tracker = Tracker(workspace, system_metrics=False)
    run_id = tracker.start(run_name="r", params=params, tags={})
    tracker.log_metrics({"loss": math.nan, "grad_norm": math.inf}, 1)
    tracker.end()
    run = _client(workspace).get_run(run_id)
    assert len(run.data.params) == 251 and run.data.params["prompts"].startswith("x")
    assert math.isnan(run.data.metrics["loss"]) and run.data.metrics["grad_norm"] > 1e300


@pytest.mark.parametrize("deleted", ["experiment", "run"])
def test_a_run_deleted_while_training_is_said_once_and_not_as_an_outage(workspace: Path, deleted: str, caplog) -> None:
    """The experiment (or the run) deleted in the UI mid-run: every write is refused with INVALID_PARAMETER_VALUE
    ("must be in the 'active' state"), which the flush reported as the store not answering ("they are sent when it
    answers"), buffered for good, and warned about again for each artifact and at the end. It is said once, as a
    deletion; training's later calls neither raise nor warn, and the process can start another run."""
    tracker = Tracker(workspace, system_metrics=False)
    run_id = tracker.start(run_name="r", params={}, tags={})
    tracker.log_metrics({"loss": 5.0}, 1)
    tracker.flush()
    client = _client(workspace)
    if deleted == "experiment":
        client.delete_experiment(client.get_run(run_id).info.experiment_id)
    else:
        client.delete_run(run_id)
    with caplog.at_level(logging.WARNING, logger="lmforge.pipeline.tracking.mlflow_run"):
        for step in (2, 3, 4):
            tracker.log_metrics({"loss": 5.0 - step}, step)
            tracker.flush()  # no exception: training goes on
        tracker.log_loss_plot([(1, 5.0), (2, 3.0)], [])
        tracker.log_samples(["The"], ["end"], step=4)
        tracker.end()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    why = "its experiment 'lmforge' (id " if deleted == "experiment" else "it was deleted"
    assert f"MLflow run {run_id}" in warnings[0] and "was deleted while training" in warnings[0] and why in warnings[0]
    assert "when it answers" not in warnings[0] and not tracker.live and tracker.deleted
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [1]
    if deleted == "experiment":
        client.create_experiment("elsewhere")
    again = Tracker(workspace, system_metrics=False, experiment="elsewhere" if deleted == "experiment" else "lmforge")
    assert again.start(run_name="r", params={}, tags={})  # no run left active in this process
    again.end()
