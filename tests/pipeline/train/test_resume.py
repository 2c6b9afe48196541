"""Stop a run and resume it: it continues bit for bit (CPU) as if never stopped — in-process, and under torchrun
with a SIGKILL of the whole process group mid-run, for world sizes 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.pipeline.train.trainer import Trainer
from tests.pipeline.train.conftest import STRAIGHT_STEPS
from tests.support.training import assert_same_weights, final_weights, steps, tiny_config, torchrun, torchrun_killed


def losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in steps(run_dir)]


@pytest.mark.parametrize("stop_at", [3, 13])
def test_interrupted_in_process_run_resumes_bitwise(shards_dir: Path, tmp_path: Path, stop_at: int) -> None:
    runs = shards_dir.parent.parent / "runs"
    config = tiny_config(model={"gpt": {"dropout": 0.1}})  # dropout: the RNG state must be restored too
    straight = runs / f"{tmp_path.name}-straight"
    uninterrupted = Trainer(config, shards_dir, straight)
    uninterrupted.fit()

    stopped = runs / f"{tmp_path.name}-stopped"
    first = Trainer(config, shards_dir, stopped)
    first.fit(until=stop_at)  # an interruption: steps after the last checkpoint (every 5) are lost
    del first
    second = Trainer(config, shards_dir, stopped)
    assert second.resumed_from == (stop_at // 5) * 5 or (stop_at < 5 and second.resumed_from is None)
    second.fit()
    assert losses(stopped) == losses(straight)
    assert second.history == uninterrupted.history  # the loss curve logged at the end covers the whole run
    assert_same_weights(final_weights(stopped), final_weights(straight))


def test_resume_with_a_different_config_is_a_clear_error(shards_dir: Path, run_dir: Path) -> None:
    from lmforge.pipeline.errors import LmforgeError

    Trainer(tiny_config(max_steps=5), shards_dir, run_dir).fit()
    with pytest.raises(LmforgeError, match=r"another config \(changed: train\.optim\.lr\)"):
        Trainer(tiny_config(max_steps=5, optim={"lr": 1e-3}), shards_dir, run_dir)
    with pytest.raises(LmforgeError, match="--resume"):
        Trainer(tiny_config(max_steps=5), shards_dir, run_dir, resume=False)


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [1, 2])
def test_torchrun_kill_9_and_resume_is_bitwise(shards_dir: Path, tmp_path: Path, straight_torchrun, nproc: int) -> None:
    straight = straight_torchrun(nproc)
    config = tiny_config(max_steps=STRAIGHT_STEPS)
    crashed = shards_dir.parent.parent / "runs" / f"{tmp_path.name}-crashed"
    torchrun_killed(shards_dir, crashed, config, nproc, after_step=7)
    assert not (crashed / "manifest.json").exists()
    assert 7 <= steps(crashed)[-1]["step"] < STRAIGHT_STEPS
    resumed = torchrun(shards_dir, crashed, config, nproc)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout + resumed.stderr
    assert losses(crashed) == losses(straight)
    assert_same_weights(final_weights(crashed), final_weights(straight))


def test_the_loss_curve_of_a_resumed_run_keeps_its_earlier_val_points(shards_dir: Path, tmp_path: Path, monkeypatch):
    """The val losses before the resume live in the MLflow run, not in metrics.jsonl: the curve logged at the end
    must show them as the uninterrupted run's curve does."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the workspace's own store
    runs = shards_dir.parent.parent / "runs"
    config = tiny_config(tracking={"mlflow": True, "eval_every": 5, "sample_tokens": 0, "system_metrics": False})
    straight = Trainer(config, shards_dir, runs / f"{tmp_path.name}-straight")
    straight.fit()
    first = Trainer(config, shards_dir, runs / f"{tmp_path.name}-stopped")
    first.fit(until=13)  # val at 5 and 10; checkpoint at 10
    del first
    second = Trainer(config, shards_dir, runs / f"{tmp_path.name}-stopped")
    second.fit()
    assert [s for s, _ in straight.val_history] == [5, 10, 15, 20, 24]
    assert second.val_history == straight.val_history


def test_a_run_killed_between_its_last_checkpoint_and_its_manifest_keeps_its_losses(shards_dir: Path, tmp_path: Path):
    """A kill after the final checkpoint but before the manifest: the resume has no step left to train, and must still
    record the run's final train and val loss, not None."""
    config = tiny_config(max_steps=10, tracking={"eval_every": 5})
    run = shards_dir.parent.parent / "runs" / tmp_path.name
    first = Trainer(config, shards_dir, run).fit()
    (run / "manifest.json").unlink()
    second = Trainer(config, shards_dir, run).fit()
    assert second.resumed_from == 10
    assert (second.train_loss, second.val_loss) == (first.train_loss, first.val_loss)
    stats = json.loads((run / "manifest.json").read_text())["stats"]
    assert (stats["train_loss"], stats["val_loss"]) == (first.train_loss, first.val_loss)


def test_a_metrics_line_cut_by_a_kill_does_not_block_the_resume(shards_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(max_steps=10)
    run = shards_dir.parent.parent / "runs" / tmp_path.name
    Trainer(config, shards_dir, run).fit(until=7)  # checkpoint at 5
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 8, "loss": 6.9')  # what a kill -9 (or a full disk) leaves mid-line
    assert Trainer(config, shards_dir, run).fit().step == 10
    assert [row["step"] for row in steps(run)] == list(range(1, 11))
