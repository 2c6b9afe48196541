"""Stop a run and resume it: it continues bit for bit (CPU) as if never stopped — in-process, and under torchrun
with a SIGKILL of the whole process group mid-run, for world sizes 1 and 2."""

from __future__ import annotations

import json
import resource
import signal
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


def _mlflow_loss_steps(run_id: str) -> list[int]:
    from mlflow import MlflowClient

    return sorted(m.step for m in MlflowClient().get_metric_history(run_id, "loss"))


def test_a_copied_run_folder_trains_into_an_mlflow_run_of_its_own(shards_dir: Path, tmp_path: Path, monkeypatch):
    """`cp -r runs/A runs/B` and training B reopened A's MLflow run from the copied run.json and logged B's steps
    into it. The copy now gets an MLflow run of its own; the original, and a folder moved rather than copied, go on
    in theirs."""
    import shutil

    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking = {"mlflow": True, "eval_every": 5, "sample_tokens": 0, "system_metrics": False}
    config = tiny_config(max_steps=10, tracking=tracking)
    runs = shards_dir.parent.parent / "runs"
    a, b, moved = (runs / f"{tmp_path.name}-{x}" for x in ("a", "b", "moved"))
    Trainer(config, shards_dir, a).fit(until=7)  # checkpoint at 5
    a_id = json.loads((a / "run.json").read_text())["mlflow_run_id"]
    assert _mlflow_loss_steps(a_id) == list(range(1, 8))

    shutil.copytree(a, b)
    copy = Trainer(config, shards_dir, b).fit()
    assert copy.mlflow_run_id and copy.mlflow_run_id != a_id
    assert _mlflow_loss_steps(a_id) == list(range(1, 8))  # A's run untouched
    assert _mlflow_loss_steps(copy.mlflow_run_id) == list(range(1, 11))  # steps 1-5 sent from B's metrics.jsonl
    tags = MlflowClient().get_run(copy.mlflow_run_id).data.tags
    assert tags["lmforge.copied_from_mlflow_run"] == a_id and tags["lmforge.run_dir"] == str(b.resolve())

    a.rename(moved)  # moved, not copied: nothing else claims A's MLflow run
    assert Trainer(config, shards_dir, moved).fit().mlflow_run_id == a_id
    assert _mlflow_loss_steps(a_id) == list(range(1, 11))
    assert MlflowClient().get_run(a_id).data.tags["lmforge.run_dir"] == str(moved.resolve())


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_full_disk_while_trimming_metrics_on_resume_keeps_the_earlier_rows(shards_dir: Path, tmp_path: Path):
    """The resume rewrote metrics.jsonl in place: a full disk (here a file size limit, which fails writes the same
    way) or a kill midway truncated it, and the rows of the steps before the resume were gone for good."""
    config = tiny_config(max_steps=10)
    run = shards_dir.parent.parent / "runs" / tmp_path.name
    Trainer(config, shards_dir, run).fit(until=7)  # checkpoint at 5; ~150 bytes a row
    before = (run / "metrics.jsonl").read_bytes()
    old_limit, old_handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300, old_limit[1]))
    try:
        with pytest.raises(OSError, match="File too large"):
            Trainer(config, shards_dir, run).fit()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert (run / "metrics.jsonl").read_bytes() == before
    assert Trainer(config, shards_dir, run).fit().step == 10
    assert [row["step"] for row in steps(run)] == list(range(1, 11))
