"""Registry defects found by a store that fails mid-registration, and by pyfunc inputs nothing bounded: the foreign-
model check skipped on a 503, an endless `max_new_tokens`, a dict of dicts taken as a column. No MLflow store is
opened: MLflow's client is replaced where the store's answer is the point, and the pyfunc checks are pure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE

from lmforge.pipeline.errors import ConfigError, InputError
from lmforge.pipeline.registry import pyfunc, registry
from lmforge.pipeline.registry.pyfunc import prompts_of, sampling_options
from lmforge.pipeline.registry.registry import TrackingUnreachableError, check_not_foreign


def _client_raising(exc: Exception) -> type:
    class Client:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def search_model_versions(self, *args: object, **kwargs: object) -> list:
            raise exc

    return Client


def test_a_store_error_while_checking_for_a_foreign_model_is_not_taken_for_no_model(monkeypatch) -> None:
    """A 503 from a restarting server was read as "no such model yet": the check was skipped, and the registration
    went on to add its version among another project's (or failed later, after minutes of evaluation)."""
    answer = MlflowException(
        "API request to endpoint /api/2.0/mlflow/model-versions/search failed with error code 503 != 200.\n"
        "Response body: '<html>Service Unavailable</html>'",
        error_code=TEMPORARILY_UNAVAILABLE,
    )
    monkeypatch.setattr(mlflow, "MlflowClient", _client_raising(answer))
    with pytest.raises(TrackingUnreachableError) as caught:
        check_not_foreign("shared-name")
    message = str(caught.value)
    assert "\n" not in message and "503" in message and "'shared-name'" in message
    assert message.startswith("MLflow at ") and "nothing was registered" in message


def test_a_model_the_store_does_not_hold_is_nothing_to_check(monkeypatch) -> None:
    answer = MlflowException("Registered Model with name=x not found", error_code=RESOURCE_DOES_NOT_EXIST)
    monkeypatch.setattr(mlflow, "MlflowClient", _client_raising(answer))
    check_not_foreign("x")  # register creates it


def test_store_error_is_one_line_for_an_error_without_a_message() -> None:
    error = registry.store_error(ConnectionError(), "registering")
    assert "\n" not in str(error) and "ConnectionError" in str(error)


@pytest.mark.parametrize("tokens", [4097, 10**12])
def test_max_new_tokens_past_the_maximum_is_refused_naming_the_param(tokens: int) -> None:
    """10**12 was accepted: generation slides its window past the context, so it ran until the worker was killed."""
    with pytest.raises(ConfigError, match=rf"max_new_tokens: must be at most 4096 \(MAX_NEW_TOKENS\).*got {tokens}"):
        sampling_options({"max_new_tokens": tokens})
    assert pyfunc.MAX_NEW_TOKENS == 4096
    assert sampling_options({"max_new_tokens": 4096})["max_new_tokens"] == 4096


@pytest.mark.parametrize("tokens", [4097, 10**6])
def test_smoke_tokens_past_the_maximum_is_refused_when_the_config_is_loaded(tmp_path: Path, tokens: int) -> None:
    """`registry.smoke_tokens` had no upper bound: past MAX_NEW_TOKENS the packaged model refuses the load check, so
    `register` failed only after the run was packaged and evaluated, not when the config was read."""
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.registry.config import RegistryConfig

    config = tmp_path / "run.toml"
    config.write_text(f"[registry]\nsmoke_tokens = {tokens}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"registry\.smoke_tokens: must be an integer in \[0, 4096\].*got {tokens}$"):
        load_config(config)
    assert RegistryConfig(smoke_tokens=pyfunc.MAX_NEW_TOKENS).smoke_tokens == 4096


def test_a_dict_of_dicts_is_refused_not_taken_as_a_column() -> None:
    """pandas made {"a": {"prompt": "x"}} a column `a`: "x" was generated from, and the key `prompt` ignored."""
    with pytest.raises(InputError, match=r"dict whose value for 'a' is a dict"):
        prompts_of({"a": {"prompt": "x"}})
    with pytest.raises(InputError, match=r"dict whose value for 'prompt' is a dict"):
        prompts_of({"prompt": {"0": "x", "1": "y"}})
    assert prompts_of({"prompt": ["x", "y"]}) == ["x", "y"]  # a column still is one
    assert prompts_of({"prompt": "x"}) == ["x"]


def test_a_stage_folder_with_an_address_is_redacted_in_its_dataset_source(tmp_path) -> None:
    """A workspace under /data/jane.doe@example.org/ put her address in the source of every dataset the registered
    run lists. (The version's `*_dir` tags keep the path: `lineage --verify` finds the folders by them.)"""
    from lmforge.pipeline.registry.datasets import stage_dataset
    from lmforge.pipeline.registry.lineage import Stage

    folder = tmp_path / "jane.doe@example.org" / "ws" / "shards" / "abc123"
    source = stage_dataset(Stage("shards", "abc123", folder)).source.to_dict()
    shown = json.dumps(source)
    assert "jane.doe@example.org" not in shown and "<EMAIL>" in shown
    assert stage_dataset(Stage("shards", "abc123", tmp_path / "ws")).source.to_dict()["uri"] == str(tmp_path / "ws")


def _unavailable() -> MlflowException:
    return MlflowException("failed with error code 503 != 200", error_code=TEMPORARILY_UNAVAILABLE)


def test_a_store_error_while_looking_for_an_earlier_version_is_not_taken_for_none(monkeypatch) -> None:
    """Read as "not registered before", a 503 sent the registration on to create a duplicate version."""
    monkeypatch.setattr(mlflow, "MlflowClient", _client_raising(_unavailable()))
    with pytest.raises(TrackingUnreachableError, match=r"looking up the versions of 'm' \(failed with error code 503"):
        registry._registered_before("m", SimpleNamespace(), "00" * 32)


def test_a_store_error_while_resolving_a_reference_is_not_no_such_model(monkeypatch) -> None:
    class Client:
        def get_registered_model(self, name: str) -> None:
            raise _unavailable()

    monkeypatch.setattr(mlflow, "MlflowClient", Client)
    with pytest.raises(TrackingUnreachableError, match=r"looking up registered model 'm'.*nothing was read"):
        registry.resolve_version("models:/m@champion")


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[Path]:
    """A workspace with its own SQLite MLflow store (the env URI points at it)."""
    from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept

    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{ws.resolve() / 'mlflow.db'}")
    with mlflow_uris_kept():  # what the tests point MLflow at ends with them: the tests after these use their own
        yield ws


def test_reopening_the_training_run_while_the_store_fails_is_an_error_not_a_new_run(store, monkeypatch) -> None:
    """A 503 on reading the training run was taken for "not in this store": the model was logged into a new run,
    away from its training run's metrics, for good."""
    lineage = SimpleNamespace(mlflow_run_id="0" * 32, run_dir=store / "runs" / "r", run_id="r")

    def get_run(run_id: str) -> None:
        raise _unavailable()

    monkeypatch.setattr(mlflow, "get_run", get_run)
    with pytest.raises(TrackingUnreachableError, match=r"reopening MLflow run 0{32}"):
        registry._open_run(store, lineage)
    assert mlflow.active_run() is None


def test_a_training_run_deleted_in_the_ui_gets_a_new_run(store) -> None:
    from lmforge.pipeline.tracking.mlflow_run import ensure_experiment

    with mlflow.start_run(experiment_id=ensure_experiment(store)) as training:
        pass
    mlflow.MlflowClient().delete_run(training.info.run_id)
    lineage = SimpleNamespace(mlflow_run_id=training.info.run_id, run_dir=store / "runs" / "r", run_id="r")
    run, status = registry._open_run(store, lineage)
    try:
        assert run.info.run_id != training.info.run_id and status is None
    finally:
        mlflow.end_run()
