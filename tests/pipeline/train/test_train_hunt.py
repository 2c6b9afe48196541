"""Defects found by a hunt through training on tiny models: each test failed before its fix."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import ConfigError, IntegrityError
from lmforge.pipeline.train.checkpoint import list_checkpoints
from lmforge.pipeline.train.config import TrainConfig
from lmforge.pipeline.train.launch import torchrun_command, write_config
from lmforge.pipeline.train.trainer import Trainer
from tests.support.training import steps, tiny_config, worker_env


def test_an_infinite_weight_decay_names_the_field() -> None:
    """It was accepted, and the first update turned every matrix into NaN: a NonFiniteLossError blaming the lr."""
    with pytest.raises(ConfigError, match=r"train\.optim\.weight_decay"):
        from_dict(TrainConfig, {"optim": {"weight_decay": float("inf")}}, where="train")


@pytest.mark.parametrize("lost", ["all", "newest"])
def test_a_checkpoint_folder_without_its_meta_json_is_not_skipped_silently(
    shards_dir: Path, run_dir: Path, lost: str
) -> None:
    """Folders are renamed into place with their meta.json, so one without it is damaged. It was skipped: the resume
    fell back to an older checkpoint without a word, or, with none left, trained from step 0, wiping metrics.jsonl."""
    config = tiny_config(max_steps=12)
    Trainer(config, shards_dir, run_dir).fit(until=11)  # checkpoints at 5 and 10
    found = list_checkpoints(run_dir)
    for folder in found if lost == "all" else found[-1:]:
        (folder / "meta.json").unlink()
    fallback = "step-00000005" if lost == "newest" else "from step 0"
    with pytest.raises(IntegrityError, match=rf"step-00000010/meta\.json: missing.*delete .*{fallback}"):
        Trainer(config, shards_dir, run_dir)
    assert [row["step"] for row in steps(run_dir)] == list(range(1, 12))  # nothing trimmed


def _mlflow_steps(run_dir: Path, key: str) -> list[int]:
    from mlflow import MlflowClient

    run_id = json.loads((run_dir / "run.json").read_text())["mlflow_run_id"]
    return sorted(m.step for m in MlflowClient().get_metric_history(run_id, key))


@pytest.mark.parametrize("sent_before_death", [True, False])
def test_a_resumed_run_leaves_no_step_out_of_mlflow(
    shards_dir: Path, run_dir: Path, tmp_path: Path, monkeypatch, sent_before_death: bool
) -> None:
    """log_every 10, checkpoints every 5, killed at step 8: steps 1-8 were still buffered, the resume continued from
    5 and logged from 6 on, so MLflow lacked steps 1-5 (and the val loss at 5) that metrics.jsonl holds."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking = {"mlflow": True, "log_every": 10, "eval_every": 5, "sample_tokens": 0, "system_metrics": False}
    config = tiny_config(max_steps=12, tracking=tracking)
    first = Trainer(config, shards_dir, run_dir)
    first.tracker.end = lambda status="FINISHED": mlflow.end_run("KILLED")  # dies: its buffer is never sent
    if not sent_before_death:  # the store did not answer before the death: only metrics.jsonl has the steps
        first.tracker.flush = lambda: None
    first.fit(until=8)
    second = Trainer(config, shards_dir, run_dir)
    assert second.resumed_from == 5
    second.fit()
    assert _mlflow_steps(run_dir, "loss") == _mlflow_steps(run_dir, "lr") == list(range(1, 13))
    if sent_before_death:
        assert _mlflow_steps(run_dir, "val_loss") == [5, 10, 12]


def _workers_of(run_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"lmforge.pipeline.train.launch" in cmd and str(run_dir).encode() in cmd:
                pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(), reason="needs Linux /proc")
def test_workers_do_not_outlive_a_killed_torchrun(shards_dir: Path, run_dir: Path) -> None:
    """torchrun starts each worker in a session of its own: a SIGKILL of torchrun's process group left the workers
    training on as orphans, writing checkpoints and metrics.jsonl beside the run a resume started."""
    config = tiny_config(max_steps=100_000, checkpoint={"every": 10_000})
    write_config(run_dir, config)
    cmd = torchrun_command(shards_dir=shards_dir, run_dir=run_dir, nproc=1)
    proc = subprocess.Popen(
        cmd, env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not steps(run_dir) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        workers = _workers_of(run_dir)
        assert workers and steps(run_dir)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while _workers_of(run_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _workers_of(run_dir)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
