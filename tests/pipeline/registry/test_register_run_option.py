"""`lmforge register --run RUN`: how RUN names a run folder under `<workspace>/runs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.flows.commands.register import resolve_run
from lmforge.pipeline.errors import NotFoundError


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    for name in ("3f2a9c", "3f2a9c-copy", "b71d04"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    return tmp_path


def test_a_run_id_whose_copy_sits_beside_it_is_that_run(workspace: Path) -> None:
    """A run folder copied next to its original (`cp -r runs/ID runs/ID-copy`, which training forks from) made the
    original's own full id "ambiguous": no `--run` but its path could name it."""
    assert resolve_run(workspace, "3f2a9c") == workspace / "runs" / "3f2a9c"
    assert resolve_run(workspace, "3f2a9c-") == workspace / "runs" / "3f2a9c-copy"
    assert resolve_run(workspace, "b7") == workspace / "runs" / "b71d04"


def test_a_prefix_of_two_runs_is_still_ambiguous(workspace: Path) -> None:
    with pytest.raises(NotFoundError, match=r"--run '3f2a' is ambiguous"):
        resolve_run(workspace, "3f2a")
