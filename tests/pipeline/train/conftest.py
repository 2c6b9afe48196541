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
    """`get(nproc)`: the run folder of an uninterrupted torchrun run of STRAIGHT_STEPS steps, made once per session
    and shared by the resume and DDP tests."""
    from tests.support.training import tiny_config, torchrun

    made: dict[int, Path] = {}

    def get(nproc: int) -> Path:
        if nproc not in made:
            run = shards_dir.parent.parent / "runs" / f"straight-{nproc}"
            done = torchrun(shards_dir, run, tiny_config(max_steps=STRAIGHT_STEPS), nproc)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            made[nproc] = run
        return made[nproc]

    return get


STRAIGHT_STEPS = 96
"""Long enough that `torchrun_killed(after_step=7)` (polling every 50 ms) lands mid-run: 16 tiny steps took ~0.1 s
on 2 cores, so the kill often came after the run had finished."""
