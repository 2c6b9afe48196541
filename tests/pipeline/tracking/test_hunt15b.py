"""Tracking defects: a store refusing to create the experiment hid its reason behind an AttributeError on None.
MLflow on a SQLite file under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from lmforge.pipeline.tracking.mlflow_run import ensure_experiment, mlflow_uris_kept


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with mlflow_uris_kept():  # `ensure_experiment` points MLflow at the workspace: the tests after these use their own
        yield tmp_path / "ws"


def test_a_store_refusing_to_create_the_experiment_says_why(workspace: Path, monkeypatch) -> None:
    """Every refusal was taken for "created concurrently by another process": the experiment then looked up was
    None, and `None.experiment_id` (an AttributeError) was all a user saw."""
    workspace.mkdir()

    def refuse(*args: object, **kwargs: object) -> str:
        raise MlflowException("failed with error code 503 != 200", error_code=TEMPORARILY_UNAVAILABLE)

    monkeypatch.setattr(mlflow, "create_experiment", refuse)
    with pytest.raises(MlflowException, match="503"):
        ensure_experiment(workspace, "fresh")


def test_an_experiment_deleted_and_restored_takes_runs_again(workspace: Path) -> None:
    workspace.mkdir()
    first = ensure_experiment(workspace, "cycle")
    client = mlflow.MlflowClient()
    client.delete_experiment(first)
    with pytest.raises(Exception, match=r"is deleted: restore it"):
        ensure_experiment(workspace, "cycle")
    client.restore_experiment(first)
    assert ensure_experiment(workspace, "cycle") == first
