from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shards import make_shards


@pytest.fixture(scope="session")
def shards_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny tokenizer + shards workspace per session (read-only for the tests)."""
    return make_shards(tmp_path_factory.mktemp("ws"))


@pytest.fixture
def run_dir(shards_dir: Path, tmp_path: Path) -> Path:
    """A fresh run folder inside the shards' workspace (so the tokenizer is found next to it)."""
    return shards_dir.parent.parent / "runs" / tmp_path.name


@pytest.fixture(scope="session")
def straight_torchrun(shards_dir: Path):
    """`get(nproc, steps)`: the run folder of an uninterrupted torchrun run of `steps` (STRAIGHT_STEPS) steps, made
    once per session and shared by the resume and DDP tests."""
    from tests.support.training import tiny_config, torchrun

    made: dict[tuple[int, int], Path] = {}

    def get(nproc: int, steps: int = STRAIGHT_STEPS) -> Path:
        if (nproc, steps) not in made:
            run = shards_dir.parent.parent / "runs" / f"straight-{nproc}-{steps}"
            done = torchrun(shards_dir, run, tiny_config(max_steps=steps), nproc)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            made[nproc, steps] = run
        return made[nproc, steps]

    return get


STRAIGHT_STEPS = 96
"""Long enough that `torchrun_killed(after_step=7)` (polling every 50 ms) lands mid-run: 16 tiny steps took ~0.1 s
on 2 cores, so the kill often came after the run had finished."""

MATCH_STEPS = 16
"""Runs that must match another parallel layout (1 vs 2 ranks, DDP vs FSDP) up to float order: longer, the order
differences grow past any tight tolerance (96 steps drifted by 3e-2 in the loss)."""
