"""Registering as a scheduled deployment does it: again after success, again after a half-failure, on a run that
has not finished, and with an MLflow that fails one request. A test that may add a version uses a model name of its
own, so the versions and aliases of `lmforge` that the other registry tests check stay as they are."""

from __future__ import annotations

import pytest

from lmforge.pipeline.errors import LmforgeError, NotFoundError
from lmforge.pipeline.registry import gate, registry
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import RegistrationIncompleteError, aliases_of, register, resolve_version
from tests.pipeline.registry.conftest import NAME
from tests.support.registry import tracking
from tests.support.training import tiny_config


def _versions(name: str) -> list[str]:
    from mlflow import MlflowClient

    return sorted(str(v.version) for v in MlflowClient().search_model_versions(f"name = '{name}'"))


def test_registering_the_same_run_again_creates_no_version(chain, champion, trained) -> None:
    again = register(chain.workspace, trained)
    assert again.version == champion[0].version and again.run_id == champion[0].run_id
    assert _versions(NAME).count(champion[0].version) == 1 and "champion" in aliases_of(NAME, again.version)


def test_a_run_that_has_not_finished_is_refused(chain) -> None:
    """Killed at step 7 of 20 with a checkpoint at step 5: registering it would publish (and could promote) a
    half-trained model. The run must be finished (resumed to the end) first."""
    from lmforge.pipeline.train.trainer import Trainer

    config = tiny_config(
        max_steps=20,
        checkpoint={"every": 5, "keep": 2},
        tracking={"mlflow": True, "system_metrics": False, "eval_every": 0, "sample_tokens": 0},
    )
    run_dir = chain.workspace / "runs" / "unfinished"
    with tracking(chain.workspace):
        Trainer(config, chain.shards, run_dir, resume=False).fit(until=7)
    name = "lmforge-unfinished"
    with pytest.raises(LmforgeError, match=r"unfinished: the run has not finished.*resume"):
        register(chain.workspace, run_dir, RegistryConfig(model_name=name, smoke_tokens=0))
    with pytest.raises(NotFoundError):
        resolve_version(f"models:/{name}@candidate")


def test_a_rerun_after_the_alias_failed_sets_it(chain, trained, monkeypatch) -> None:
    """The version was created but the process died before `@candidate` moved to it: the re-run registers nothing
    new and finishes the job."""
    from mlflow import MlflowClient

    name = "lmforge-halfway"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    real = MlflowClient.set_registered_model_alias

    def fail_once(self, *args, **kwargs):
        monkeypatch.setattr(MlflowClient, "set_registered_model_alias", real)
        raise ConnectionError("connection reset while moving the alias")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", fail_once)
    with pytest.raises(RegistrationIncompleteError, match="connection reset"):
        register(chain.workspace, trained, config)
    assert _versions(name) == ["1"] and aliases_of(name, "1") == []
    again = register(chain.workspace, trained, config)
    assert again.version == "1" and _versions(name) == ["1"] and aliases_of(name, "1") == ["candidate"]


def test_a_failed_registration_leaves_the_training_run_finished(chain, trained, monkeypatch) -> None:
    """Registration reopens the training run to log the model there; its failure is not the training's."""
    import mlflow

    from lmforge.pipeline.train.trainer import Trainer

    def broken(**kwargs):
        raise OSError("artifact store is read-only")

    monkeypatch.setattr(mlflow.pyfunc, "log_model", broken)
    with pytest.raises(RegistrationIncompleteError, match="read-only"):
        register(chain.workspace, trained, RegistryConfig(model_name="lmforge-broken-store", smoke_tokens=0))
    run_id = Trainer.read_run_json(trained)["mlflow_run_id"]
    assert mlflow.get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize(
    ("step", "left"),
    [
        (
            "set_tags",
            r"while logging the lineage to MLflow run \w+ \(.*\); MLflow run \w+ holds part of it and no model; "
            "no version was registered",
        ),
        (
            "log_model",
            r"while logging the model package to MLflow run \w+ \(.*\); MLflow run \w+ holds the lineage but "
            "no model; no version was registered",
        ),
        (
            "register_model",
            r"while registering the model of MLflow run \w+ as a version of lmforge-step-register_model "
            r"\(.*\); the model is logged to MLflow run \w+; no alias moved \(the version may have been created\)",
        ),
        ("register_model_late", r"while registering the model of MLflow run \w+ as a version of .*no alias moved"),
        (
            "alias",
            r"while moving @candidate to lmforge-step-alias version 1 \(.*\); version 1 registered, @candidate "
            "not moved",
        ),
    ],
)
def test_a_store_failing_midway_is_one_line_and_a_rerun_finishes(chain, trained, monkeypatch, step, left) -> None:
    """MLflow failing a request midway through a registration (a server restarting) showed its raw traceback, which
    said neither what was left nor what to do. The error says which step failed and what it left, and running
    `register` again finishes the job: one version of the checkpoint, with @candidate and every package file pinned."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.registry import lineage

    name = f"lmforge-step-{step}"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    real_register = mlflow.register_model

    def unavailable(*args, **kwargs):
        if step == "register_model_late":  # the version is created, the answer lost
            real_register(*args, **kwargs)
        raise MlflowException("API request failed with error code 503 != 200\n<html>Service Unavailable</html>")

    owner, attr = {
        "set_tags": (mlflow, "set_tags"),
        "log_model": (mlflow.pyfunc, "log_model"),
        "register_model": (mlflow, "register_model"),
        "register_model_late": (mlflow, "register_model"),
        "alias": (MlflowClient, "set_registered_model_alias"),
    }[step]
    with monkeypatch.context() as patched:
        patched.setattr(owner, attr, unavailable)
        with pytest.raises(RegistrationIncompleteError, match=left) as failed:
            register(chain.workspace, trained, config)
    message = str(failed.value)
    assert "\n" not in message and "error code 503" in message
    assert message.endswith("re-run `lmforge register --run trained` to finish")
    again = register(chain.workspace, trained, config)
    assert _versions(name) == [again.version] and aliases_of(name, again.version) == ["candidate"]
    tags = dict(MlflowClient().get_model_version(name, again.version).tags)
    assert lineage.PACKAGE_FILES_TAG in tags and lineage.verify(tags)[1] == []


def test_an_mlflow_error_is_not_taken_for_no_champion(chain, champion, monkeypatch) -> None:
    """A failed request while reading `@champion` must stop the gate, not promote the candidate as if there were
    no champion (that moved @champion to whatever version was judged, however bad)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    def unavailable(self, *args, **kwargs):
        raise MlflowException("503 Service Unavailable", error_code="TEMPORARILY_UNAVAILABLE")

    monkeypatch.setattr(MlflowClient, "get_model_version_by_alias", unavailable)
    monkeypatch.setattr(MlflowClient, "get_registered_model", unavailable)
    with pytest.raises(MlflowException, match="503"):
        gate.judge(chain.workspace, NAME, "2")


def test_a_store_failing_during_the_gate_is_one_line(chain, champion, monkeypatch) -> None:
    """The gate runs right after registering: a 503 there ended `lmforge register` with MLflow's traceback."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.registry.registry import TrackingUnreachableError

    def unavailable(self, *args, **kwargs):
        raise MlflowException("API request failed with error code 503 != 200\n<html>Service Unavailable</html>")

    monkeypatch.setattr(MlflowClient, "get_registered_model", unavailable)
    with pytest.raises(TrackingUnreachableError) as failed:
        gate.judge_and_apply(chain.workspace, NAME, champion[0].version)
    message = str(failed.value)
    assert "\n" not in message and "error code 503" in message
    assert f"while judging {NAME} version {champion[0].version} against @champion" in message
    assert "@champion not moved" in message and "`lmforge register` of its run" in message


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (f"models:/{NAME}@", "empty alias"),
        ("runs:/0123456789abcdef/model", "not a registered model reference"),
    ],
)
def test_malformed_model_reference_is_a_clear_error(champion, ref: str, message: str) -> None:
    with pytest.raises(NotFoundError, match=message):
        resolve_version(ref)


def test_judging_again_logs_the_gate_metrics_once(chain, trained) -> None:
    """A weekly deployment re-registers the same run (no new version) and runs the gate again: the same verdict
    must not add a second point at the same step to the run's gate metrics."""
    from mlflow import MlflowClient

    name = "lmforge-gate-twice"
    registered = register(chain.workspace, trained, RegistryConfig(model_name=name, smoke_tokens=0))
    result = gate.GateResult(False, "test verdict", registered.version, "9", 4.0, 3.5, chain.shards.name)
    gate.apply(name, result)
    gate.apply(name, result)
    history = MlflowClient().get_metric_history(registered.run_id, "gate.candidate_bpb")
    assert [(m.step, m.value) for m in history] == [(0, 4.0)]
    gate.apply(name, gate.GateResult(False, "a new champion", registered.version, "10", 4.0, 3.7, chain.shards.name))
    history = MlflowClient().get_metric_history(registered.run_id, "gate.champion_bpb")
    assert [(m.step, m.value) for m in history] == [(0, 3.5), (1, 3.7)]


@pytest.mark.parametrize("when", ["before", "after"])
def test_two_registrations_of_one_checkpoint_at_once_leave_one_version(chain, trained, monkeypatch, when) -> None:
    """A retried flow run registers beside the original: both find no version of the checkpoint yet and both create
    one. The other registration lands either before ours is created or after it (before we look again); either
    way one version stays, the first, with @candidate, and both return it."""
    import mlflow

    name = f"lmforge-race-{when}"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    real = mlflow.register_model
    other = []

    def racing(*args, **kwargs):
        monkeypatch.setattr(mlflow, "register_model", real)
        if when == "before":
            other.append(register(chain.workspace, trained, config))
            return real(*args, **kwargs)
        ours = real(*args, **kwargs)
        looked = registry._registered_before

        def looked_earlier(*a):  # the other one's first look came before ours was created, and found nothing
            monkeypatch.setattr(registry, "_registered_before", looked)

        monkeypatch.setattr(registry, "_registered_before", looked_earlier)
        other.append(register(chain.workspace, trained, config))
        return ours

    monkeypatch.setattr(mlflow, "register_model", racing)
    ours = register(chain.workspace, trained, config)
    assert _versions(name) == ["1"]
    assert ours.version == other[0].version == "1"
    assert aliases_of(name, "1") == ["candidate"]


def test_registering_again_after_an_eval_tag_was_edited_into_no_number_restores_it(chain, trained) -> None:
    """Tags can be edited in MLflow's UI: re-registering the checkpoint (a scheduled re-run) died of ValueError on
    `float("n/a")`, so the run that should set a missing @candidate never got there."""
    from mlflow import MlflowClient

    name = "lmforge-edited-eval"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    first = register(chain.workspace, trained, config)
    client = MlflowClient()
    client.set_model_version_tag(name, first.version, "lmforge.eval.val_bpb", "n/a")
    client.delete_registered_model_alias(name, "candidate")
    again = register(chain.workspace, trained, config)
    assert again.version == first.version and again.metrics["val_bpb"] == pytest.approx(first.metrics["val_bpb"])
    assert aliases_of(name, first.version) == ["candidate"]
    restored = client.get_model_version(name, first.version).tags["lmforge.eval.val_bpb"]
    assert float(restored) == pytest.approx(first.metrics["val_bpb"], rel=1e-5)
