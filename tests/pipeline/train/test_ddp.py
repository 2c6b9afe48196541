"""DDP through torchrun (gloo, 2 CPU processes) agrees with one process on the same global batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lmforge.pipeline.train.trainer import Trainer
from tests.pipeline.train.conftest import MATCH_STEPS, STRAIGHT_STEPS
from tests.support.training import assert_same_weights, final_weights, steps, tiny_config

pytestmark = pytest.mark.slow


def losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in steps(run_dir)]


def test_one_torchrun_process_equals_the_in_process_trainer(
    shards_dir: Path, tmp_path: Path, straight_torchrun
) -> None:
    local = shards_dir.parent.parent / "runs" / f"{tmp_path.name}-local"
    Trainer(tiny_config(max_steps=STRAIGHT_STEPS), shards_dir, local).fit()
    launched = straight_torchrun(1)
    assert losses(launched) == losses(local)
    assert_same_weights(final_weights(launched), final_weights(local))


def test_two_ranks_match_one_rank_with_the_same_global_batch(
    shards_dir: Path, tmp_path: Path, straight_torchrun
) -> None:
    two = straight_torchrun(2, MATCH_STEPS)  # 2 ranks × batch 4
    one = shards_dir.parent.parent / "runs" / f"{tmp_path.name}-one"
    Trainer(tiny_config(max_steps=MATCH_STEPS, data={"batch_size": 8}), shards_dir, one).fit()  # 1 rank × batch 8
    a, b = losses(one), losses(two)
    assert len(a) == len(b) == MATCH_STEPS
    assert a == pytest.approx(b, rel=1e-4, abs=1e-4)  # same windows, same mean gradient; only float order differs
    for key, value in final_weights(one).items():
        torch.testing.assert_close(final_weights(two)[key], value, rtol=1e-3, atol=1e-4)
    rows = steps(two)
    assert rows[-1]["tokens_seen"] == MATCH_STEPS * 2 * 4 * 64


def test_fsdp2_matches_ddp_and_resumes_after_a_kill(shards_dir: Path, tmp_path: Path, straight_torchrun) -> None:
    from tests.support.training import torchrun, torchrun_killed

    ddp = straight_torchrun(2, MATCH_STEPS)
    fsdp = shards_dir.parent.parent / "runs" / f"{tmp_path.name}-fsdp"
    config = tiny_config(max_steps=MATCH_STEPS, parallel="fsdp")
    torchrun_killed(shards_dir, fsdp, config, 2, after_step=7)  # resuming loads the full-state checkpoint sharded
    done = torchrun(shards_dir, fsdp, config, 2)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resumed from" in done.stdout + done.stderr
    assert losses(fsdp) == pytest.approx(losses(ddp), rel=1e-4, abs=1e-4)
    for key, value in final_weights(ddp).items():
        torch.testing.assert_close(final_weights(fsdp)[key], value, rtol=1e-3, atol=1e-4)
