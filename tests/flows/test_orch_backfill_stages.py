"""`lmforge backfill --stages` past curate under real Prefect: the marker of a day trained and registered names its
model, and a day done with another `[tokenizer]` or `[train]` section runs again (the snapshot alone did not say)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from lmforge.flows.backfill import backfill
from lmforge.flows.run import STAGES
from lmforge.pipeline.partitions import marker_path
from tests.support.curate import read_docs, write_jsonl
from tests.support.registry import tracking

ROOT = Path(__file__).resolve().parents[2]
PROSE = ROOT / "tests" / "data" / "curate" / "filters"
D1 = date(2026, 1, 1)


def _config(path: Path, vocab_size: int = 700, max_steps: int = 2) -> str:
    """configs/tiny-run.toml, smaller still: a backfill takes a config file, not overrides."""
    text = (ROOT / "configs" / "tiny-run.toml").read_text(encoding="utf-8")
    text = text.replace("vocab_size = 2000", f"vocab_size = {vocab_size}\nnum_threads = 1")
    path.write_text(text.replace("max_steps = 150", f"max_steps = {max_steps}"), encoding="utf-8")
    return str(path)


@pytest.fixture
def root(tmp_path) -> Path:
    prose = [
        {"id": n, "text": (PROSE / n).read_text(encoding="utf-8")}
        for n in ("de_prose.txt", "zh_prose.txt", "en_prose.txt", "en_docs.txt")
    ]
    write_jsonl(tmp_path / "raw" / "date=2026-01-01" / "web.jsonl", read_docs() + prose)
    return tmp_path / "raw"


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_day_trained_and_registered_names_its_model_and_runs_again_for_another_train_config(root, tmp_path):
    ws, config = tmp_path / "ws", tmp_path / "tiny.toml"
    with tracking(ws):
        first = backfill(root, D1, D1, ws, stages=list(STAGES), config_path=_config(config), nproc=1)
        assert [o.status for o in first.outcomes] == ["done"], first.outcomes
        marker = json.loads(marker_path(ws, D1).read_text())
        # the marker kept the version only: `register_flow` says `model_name` and `model_uri`
        assert marker["model"] == {"name": "lmforge", "version": "1", "uri": "models:/lmforge/1"}
        assert {"snapshot", "tokenizer", "shards", "run", "mlflow_run_id"} <= set(marker)

        # the same config: nothing to do; another [train] section: the day's model is not the one it makes now
        assert [
            o.status for o in backfill(root, D1, D1, ws, stages=list(STAGES), config_path=str(config)).outcomes
        ] == ["skipped"]
        again = backfill(root, D1, D1, ws, stages=list(STAGES), config_path=_config(config, max_steps=3), nproc=1)
        assert [o.status for o in again.outcomes] == ["done"]
        remarked = json.loads(marker_path(ws, D1).read_text())
        assert remarked["run"] != marker["run"] and remarked["shards"] == marker["shards"]
        assert remarked["model"]["version"] == "2"

        # a run folder left without its manifest is no finished run: the day trains again (it was "skipped")
        (ws / "runs" / remarked["run"] / "manifest.json").unlink()
        last = backfill(root, D1, D1, ws, stages=list(STAGES), config_path=str(config), nproc=1)
        assert [o.status for o in last.outcomes] == ["done"] and (
            ws / "runs" / remarked["run"] / "manifest.json"
        ).is_file()


@pytest.mark.usefixtures("prefect_harness")
def test_a_day_done_with_another_tokenizer_config_runs_again(root, tmp_path):
    ws, config = tmp_path / "ws", tmp_path / "tiny.toml"
    stages = ["curate", "tokenizer"]
    first = backfill(root, D1, D1, ws, stages=stages, config_path=_config(config))
    made = json.loads(marker_path(ws, D1).read_text())["tokenizer"]
    assert [o.status for o in backfill(root, D1, D1, ws, stages=stages, config_path=str(config)).outcomes] == [
        "skipped"
    ]
    # only [tokenizer] changed: the snapshot is the same, the tokenizer the marker names is not the one made now
    again = backfill(root, D1, D1, ws, stages=stages, config_path=_config(config, vocab_size=650))
    assert [o.status for o in again.outcomes] == ["done"] and again.outcomes[0].snapshot == first.outcomes[0].snapshot
    assert json.loads(marker_path(ws, D1).read_text())["tokenizer"] not in (made, None)
    # curate alone: the new tokenizer config is no reason to curate the day again
    assert [o.status for o in backfill(root, D1, D1, ws, config_path=str(config)).outcomes] == ["skipped"]
