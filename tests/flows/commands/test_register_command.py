"""`lmforge register`: user mistakes as one line with exit 2, before Prefect starts."""

from __future__ import annotations

from pathlib import Path

from tests.flows.commands.test_train_command import lmforge


def test_unreachable_prefect_api_fails_before_any_work(tmp_path: Path) -> None:
    """A Prefect API that does not answer was a RuntimeError traceback from inside the flow call."""
    run = tmp_path / "ws" / "runs" / "r1"
    run.mkdir(parents=True)
    proc = lmforge(
        "register",
        "--run",
        str(run),
        "--workspace",
        str(tmp_path / "ws"),
        env={"PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-3000:]  # one line, no traceback
    assert "Prefect API at http://127.0.0.1:9/api is unreachable" in proc.stderr


def test_a_run_without_a_checkpoint_fails_before_prefect_starts(tmp_path: Path) -> None:
    """It failed inside the register flow, after Prefect's temporary server had started, among its log lines."""
    run = tmp_path / "ws" / "runs" / "r1"
    run.mkdir(parents=True)
    proc = lmforge("register", "--run", str(run), "--workspace", str(tmp_path / "ws"), env={})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == [
        f"lmforge: error: {run}: no finished checkpoint (checkpoints/step-*/meta.json); train the run first, "
        "or resume it so it writes one"
    ]
