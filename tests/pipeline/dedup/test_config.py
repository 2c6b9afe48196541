"""DedupConfig validation: every bad value is one line that names the field, the value and what to do."""

from __future__ import annotations

import pytest

from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.index import LocalIndex, open_index
from lmforge.pipeline.errors import ConfigError


def test_an_empty_index_setting_means_the_local_index(tmp_path):
    """TOML has no null, so `[dedup] index = ""` is how a config file says "the local index"; the error for a wrong
    value even says empty is allowed, and `open_index` takes "" as local."""
    config = DedupConfig(index="")
    assert isinstance(open_index(config.index, tmp_path, config), LocalIndex)
    with pytest.raises(ConfigError, match=r"dedup\.index: .*'file:///tmp'"):
        DedupConfig(index="file:///tmp")


def test_a_negative_margin_is_not_blamed_on_the_threshold():
    with pytest.raises(ConfigError, match=r"dedup\.margin: must be in \[0, threshold\).*got -0\.1") as failed:
        DedupConfig(margin=-0.1)
    assert "threshold this low" not in str(failed.value)
