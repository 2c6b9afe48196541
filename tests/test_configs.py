"""Every TOML shipped under configs/ parses into the config dataclasses (litgpt's test_config_hub habit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.config import load_train_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_parses(path: Path) -> None:
    load_config(path)


def test_train_tiny_is_tiny() -> None:
    config = load_train_config(Path(__file__).resolve().parents[1] / "configs" / "train-tiny.toml")
    assert config.model.kind == "gpt" and config.model.gpt.n_layer == 2 and config.data.seq_len == 128


def test_train_config_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train.data]\nseq_len = 512\n")
    with pytest.raises(ConfigError, match=r"train\.data\.seq_len.*block_size"):
        load_train_config(bad)
    bad.write_text("[train.optim]\nlr = -1\n")
    with pytest.raises(ConfigError, match=r"train\.optim\.lr"):
        load_train_config(bad)
    bad.write_text("[train]\nmax_step = 3\n")
    with pytest.raises(ConfigError, match="unknown field.*max_step"):
        load_train_config(bad)
