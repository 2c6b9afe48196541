"""Trainer defects: run.json left "running" by a run that failed or was stopped by a signal, an experiment name of
spaces, and a workspace path holding an e-mail address reaching the training run's MLflow tags. Real tiny shards,
real torch, real signals, MLflow on a SQLite file under tmp_path."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from lmforge.pipeline.errors import ConfigError, InputError
from lmforge.pipeline.train.config import load_train_config
from lmforge.pipeline.train.evaluate import evaluate
from lmforge.pipeline.train.signals import Stopped
from lmforge.pipeline.train.trainer import NonFiniteLossError, Trainer
from tests.support.tiny_shards import write_shard
from tests.support.training import tiny_config


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["   ", "", "\t"])
def test_an_experiment_name_of_spaces_is_refused_naming_the_field(name: str, tmp_path: Path) -> None:
    """ "   " was accepted: MLflow made it an experiment of its own, a blank name in its UI."""
    with pytest.raises(ConfigError, match=r"train\.tracking\.experiment.*not empty or only spaces"):
        tiny_config(tracking={"experiment": name})
    path = tmp_path / "lmforge.toml"
    path.write_text(f'[train.tracking]\nexperiment = "{name}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train\.tracking\.experiment"):
        load_train_config(path)


def test_a_failed_run_says_failed_in_run_json(shards_dir: Path, run_dir: Path) -> None:
    """run.json said "running" for good after the run died of an exception (here a NaN loss): a reader (the flow's
    result, a person) took the run for one still training."""
    trainer = Trainer(tiny_config(max_steps=12), shards_dir, run_dir)

    def poison(module, args, output):
        logits, loss = output
        return (logits, loss * float("nan")) if trainer.state.step >= 6 else output

    trainer.model.register_forward_hook(poison)
    with pytest.raises(NonFiniteLossError):
        trainer.fit()
    info = _status(run_dir)
    assert info["status"] == "failed" and info["step"] == 6


def test_a_run_stopped_by_sigterm_says_killed_and_resumes_to_finished(shards_dir: Path, run_dir: Path) -> None:
    """SIGTERM (torchrun stopping its workers) ends the MLflow run KILLED; run.json still said "running"."""
    config = tiny_config(max_steps=12)
    trainer = Trainer(config, shards_dir, run_dir)

    def terminate(module, args, output):
        if trainer.state.step == 7:
            os.kill(os.getpid(), signal.SIGTERM)  # handled in this (the main) thread: Stopped is raised here
        return output

    handle = trainer.model.register_forward_hook(terminate)
    with pytest.raises(Stopped):
        trainer.fit()
    handle.remove()
    info = _status(run_dir)
    assert info["status"] == "killed" and info["step"] == 7
    Trainer(config, shards_dir, run_dir).fit()  # a resume marks it running, then finished
    assert _status(run_dir)["status"] == "finished"


def test_a_workspace_path_with_an_address_is_redacted_in_the_run_tags(
    shards_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A workspace under /data/jane.doe@example.org/ put her address in the training run's `lmforge.run_dir` tag.
    (MLflow's own artifact URIs still hold the path: lmforge does not choose those.)

    Training in-process also left MLflow pointed at the workspace's store: the tests after it (and a notebook's next
    `mlflow.get_run`) read that store, and a caller that had set no URI was pinned to MLflow's default afterwards."""
    from mlflow import MlflowClient
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    def pointing() -> tuple[str | None, ...]:
        env = (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
        return tracking_utils._tracking_uri, registry_utils._registry_uri, *env

    ws = tmp_path / "jane.doe@example.org" / "ws"
    for part in ("tokenizers", "shards"):
        shutil.copytree(shards_dir.parent.parent / part, ws / part)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_dir = ws / "runs" / "r"
    config = tiny_config(max_steps=1, tracking={"mlflow": True, "system_metrics": False, "sample_tokens": 0})
    before = pointing()
    result = Trainer(config, ws / "shards" / shards_dir.name, run_dir).fit()
    assert pointing() == before  # MLflow pointed at the workspace while it trained only
    tags = MlflowClient(tracking_uri=f"sqlite:///{ws.resolve() / 'mlflow.db'}").get_run(result.mlflow_run_id).data.tags
    assert "jane.doe@example.org" not in tags["lmforge.run_dir"]
    assert tags["lmforge.run_dir"].startswith(str(tmp_path.resolve() / "<EMAIL>" / "ws" / "runs" / "r"))


class ContextFree(torch.nn.Module):
    """The same next-token logits after any context: every token's NLL is known."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        return self.logits.expand(*idx.shape, -1), None


def test_an_empty_val_split_is_an_input_error_not_nan_metrics(tmp_path: Path) -> None:
    """A val split of one token scores nothing: evaluate returned loss/bpb NaN as a result, which the registry then
    called a model whose weights are not finite."""
    sha = "00" * 32
    write_shard(tmp_path / "train-00000.bin", [([0, 1, 2, 3], 9, "en")], 4, sha)
    write_shard(tmp_path / "val-00000.bin", [([1], 3, "en")], 4, sha)
    with pytest.raises(InputError, match=r"the val split holds no token to score \(1 token\(s\) in 1 shard"):
        evaluate(ContextFree(torch.zeros(4)), tmp_path)


def test_a_loss_past_709_nats_gives_infinite_perplexity_not_an_overflow(tmp_path: Path) -> None:
    """math.exp(loss) raised OverflowError for a finite loss past ~709.78 (a diverged model), a traceback instead
    of the registry's clear "not finite" refusal."""
    sha = "00" * 32
    write_shard(tmp_path / "train-00000.bin", [([0, 1, 2, 3], 9, "en")], 4, sha)
    write_shard(tmp_path / "val-00000.bin", [([0, 1, 1, 1], 9, "en")], 4, sha)
    out = evaluate(ContextFree(torch.tensor([0.0, -1000.0, 0.0, 0.0])), tmp_path)
    assert out["loss"] == pytest.approx(1000.0 + math.log(3), rel=1e-4) and out["ppl"] == math.inf


def test_a_stop_signal_inside_a_store_call_waits_until_the_call_returns() -> None:
    """Raised inside a SQLite `log_batch`, the stop left the tracking store's session broken: ending the MLflow run
    then failed and it stayed RUNNING. Inside `deferred` the call completes and the stop is raised as it returns."""
    from lmforge.pipeline.train.signals import StopSignals

    done: list[str] = []
    with pytest.raises(Stopped), StopSignals() as signals:
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("store call finished")
        done.append("after the call")  # never reached: the stop is raised where the call returns
    assert done == ["store call finished"]


def test_the_tracker_enters_its_guard_around_store_calls(tmp_path: Path) -> None:
    import contextlib

    from lmforge.pipeline.tracking.mlflow_run import Tracker

    entered: list[int] = []

    @contextlib.contextmanager
    def guard():
        entered.append(1)
        yield

    tracker = Tracker(tmp_path, enabled=False)
    tracker.guard = guard
    tracker.flush()
    tracker.end("KILLED")
    assert len(entered) == 2
