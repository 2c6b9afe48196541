"""Helpers for trainer tests: a tiny config, torchrun launches with one thread per worker, run records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from lmforge.pipeline.configuring import from_dict, merge
from lmforge.pipeline.train.checkpoint import list_checkpoints
from lmforge.pipeline.train.config import TrainConfig
from lmforge.pipeline.train.launch import torchrun_command, write_config

TINY: dict[str, Any] = {
    "model": {
        "gpt": {"n_layer": 2, "n_head": 2, "n_embd": 64, "block_size": 64},
        "lstm": {"n_layer": 1, "n_embd": 64, "hidden_size": 64},
    },
    "data": {"batch_size": 4, "seq_len": 64},
    "optim": {"lr": 3e-3, "warmup_steps": 5},
    "max_steps": 24,
    "checkpoint": {"every": 5, "keep": 2},
    "tracking": {"mlflow": False, "eval_every": 0, "eval_batches": 2, "log_every": 5},
}


def tiny_config(**overrides: Any) -> TrainConfig:
    return from_dict(TrainConfig, merge(TINY, overrides), where="tiny")


def worker_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def torchrun(
    shards_dir: Path, run_dir: Path, config: TrainConfig, nproc: int, *, resume: bool = True, timeout: float = 240
) -> subprocess.CompletedProcess:
    write_config(run_dir, config)
    cmd = torchrun_command(shards_dir=shards_dir, run_dir=run_dir, nproc=nproc, resume=resume)
    return subprocess.run(cmd, env=worker_env(), capture_output=True, text=True, timeout=timeout, check=False)


def torchrun_killed(
    shards_dir: Path, run_dir: Path, config: TrainConfig, nproc: int, *, after_step: int, timeout: float = 240
) -> None:
    """Start a run and SIGKILL its whole process group once `metrics.jsonl` reaches `after_step` (a crash)."""
    write_config(run_dir, config)
    cmd = torchrun_command(shards_dir=shards_dir, run_dir=run_dir, nproc=nproc)
    proc = subprocess.Popen(
        cmd, env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if steps(run_dir) and steps(run_dir)[-1]["step"] >= after_step:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def steps(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by the kill
            break
    return rows


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(list_checkpoints(run_dir)[-1] / "model.pt", weights_only=True)


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"
