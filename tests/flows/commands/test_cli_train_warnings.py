"""`TrainConfig.warnings()` (valid settings that are likely a mistake) are printed by `lmforge train` and `lmforge run`
before torchrun is launched, once, as `lmforge: warning: …`: they were only in the rank-0 worker's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.commands.test_train_command import lmforge
from tests.support.shards import make_shards

WARMUP_PAST_THE_RUN = "[train]\nmax_steps = 5\n[train.optim]\nwarmup_steps = 10\n"
#: No server answers there: the command stops right after its checks, before any launch (and fast).
NO_PREFECT = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}


@pytest.mark.parametrize("command", ["train", "run"])
def test_config_warnings_are_printed_before_the_launch(tmp_path: Path, command: str) -> None:
    config = tmp_path / "train.toml"
    config.write_text(WARMUP_PAST_THE_RUN, encoding="utf-8")
    ws = tmp_path / "ws"
    shards = make_shards(ws)
    args = ["--shards", shards.name] if command == "train" else ["--stages", "train"]
    proc = lmforge(command, *args, "--config", str(config), "--workspace", str(ws), env=NO_PREFECT)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-3000:]
    warnings = [line for line in lines if line.startswith("lmforge: warning: ")]
    assert len(warnings) == 1 and "train.optim.warmup_steps (10) ≥ train.max_steps (5)" in warnings[0], lines
    assert lines[-1].startswith("lmforge: error: Prefect API at http://127.0.0.1:9/api is unreachable")
    assert not (ws / "runs").exists()


def test_no_warning_for_a_run_longer_than_its_warmup(tmp_path: Path) -> None:
    config = tmp_path / "train.toml"
    config.write_text("[train]\nmax_steps = 50\n[train.optim]\nwarmup_steps = 10\n", encoding="utf-8")
    shards = make_shards(tmp_path / "ws")
    proc = lmforge(
        "train", "--shards", shards.name, "--config", str(config), "--workspace", str(tmp_path / "ws"), env=NO_PREFECT
    )
    assert "warning" not in proc.stderr
