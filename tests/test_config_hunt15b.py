"""Errors from `load_config(path, overrides=...)` name where the bad value came from (pipeline/config.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.errors import ConfigError


def _error(path: Path | None, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides=overrides)
    return str(caught.value)


def test_a_bad_override_is_named_as_an_override_not_as_the_file(tmp_path: Path) -> None:
    """`lmforge dedup --config run.toml --threshold 0.05`: the margin check failed and was reported as
    "run.toml.dedup.margin: ...", though run.toml set neither field."""
    path = tmp_path / "run.toml"
    path.write_text("[train]\nmax_steps = 3\n", encoding="utf-8")
    message = _error(path, {"dedup": {"threshold": 0.05}})
    assert message.startswith("override dedup.threshold vs dedup.margin (default): must be in [0, threshold)"), message
    assert f"{path}." not in message
    assert _error(path, {"train.max_steps": "x"}) == "override train.max_steps: expected int, got 'x'"
    assert _error(path, {"train": {"max_stepz": 1}}).startswith("override train: unknown field(s) ['max_stepz']")


def test_a_bad_file_value_still_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[dedup]\nthreshold = 0.05\n[train]\nmax_steps = 'x'\n", encoding="utf-8")
    assert _error(path, {"dedup.threshold": 0.5}) == f"{path}.train.max_steps: expected int, got 'x'"
    path.write_text("[dedup]\nthreshold = 0.05\n", encoding="utf-8")
    message = _error(path, {"train.max_steps": 3})
    assert message.startswith(f"{path}.dedup.margin: must be in [0, threshold)"), message


@pytest.mark.parametrize(
    ("text", "overrides", "head"),
    [
        ("[dedup]\nmargin = 0.1\n", {"dedup.threshold": 0.05}, "{path}.dedup.margin vs override dedup.threshold: "),
        ("[dedup]\nthreshold = 0.5\n", {"dedup.margin": 0.7}, "override dedup.margin vs {path}.dedup.threshold: "),
    ],
)
def test_a_check_across_fields_names_both_origins(tmp_path: Path, text: str, overrides: dict, head: str) -> None:
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    message = _error(path, overrides)
    assert message.startswith(head.format(path=path)), message


def test_without_a_file_the_names_are_unchanged() -> None:
    assert _error(None, {"train.max_steps": "x"}) == "config.train.max_steps: expected int, got 'x'"


def test_the_dedup_command_names_its_threshold_option(tmp_path: Path, monkeypatch, capsys) -> None:
    from lmforge.flows.cli import main

    monkeypatch.setattr(os, "environ", os.environ.copy())  # main() sets the workspace's env defaults
    config = tmp_path / "run.toml"
    config.write_text("[dedup]\nmargin = 0.1\n", encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "hello"}\n', encoding="utf-8")
    workspace = tmp_path / "ws"
    argv = ["dedup", str(data), "--workspace", str(workspace), "--config", str(config), "--threshold", "0.05"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(r"error: .*run\.toml\.dedup\.margin vs override dedup\.threshold: must be in", err), err
    assert not workspace.exists()
