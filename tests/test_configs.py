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


def test_yaml_config_equals_its_toml_twin(tmp_path: Path) -> None:
    """A .yaml/.yml file holding the same tables as a TOML file gives the same config (litgpt users write YAML)."""
    import tomllib

    import yaml

    toml_path = Path(__file__).resolve().parents[1] / "configs" / "tiny-run.toml"
    for suffix in (".yaml", ".yml"):
        twin = tmp_path / f"tiny-run{suffix}"
        twin.write_text(yaml.safe_dump(tomllib.loads(toml_path.read_text())))
        assert load_config(twin) == load_config(toml_path)


def test_yaml_reads_floats_as_yaml_1_2_does(tmp_path: Path) -> None:
    """PyYAML's own rules read `3e-4` (no dot) as a string; a config's float field takes it as the number."""
    path = tmp_path / "train.yaml"
    path.write_text("train:\n  optim:\n    lr: 3e-4\n    weight_decay: 1E-2\n  max_steps: 12\n")
    config = load_config(path)
    assert config.train.optim.lr == 3e-4 and config.train.optim.weight_decay == 0.01
    assert config.train.max_steps == 12 and isinstance(config.train.max_steps, int)
    assert load_train_config(path).optim.lr == 3e-4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("curate: [1, 2\n", r"bad\.yaml: not valid YAML"),
        ("- curate\n- train\n", r"bad\.yaml: a YAML config holds a mapping of sections, got a list"),
        ("curate:\n  fo: 1\n", r"bad\.yaml\.curate: unknown field\(s\) \['fo'\]"),
        ("curate:\n  filters:\n    length:\n      min_chars: ten\n", r"min_chars: expected int, got 'ten'"),
        ("train:\n  max_steps: yes\n", r"train\.max_steps: expected int, got True"),
    ],
)
def test_bad_yaml_config_names_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_empty_yaml_config_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("# nothing set yet\n")
    assert load_config(path) == load_config()


def test_config_that_is_not_text_is_a_config_error(tmp_path: Path) -> None:
    for name in ("bin.toml", "bin.yaml"):
        path = tmp_path / name
        path.write_bytes(b"\xff\xfe\x00garbage")
        with pytest.raises(ConfigError, match=rf"{name}: not UTF-8 text"):
            load_config(path)


def test_rank_workers_read_a_yaml_train_config(tmp_path: Path) -> None:
    """torchrun's workers get `--config` as given: a YAML file is read as YAML there too, not as JSON."""
    from lmforge.pipeline.train.launch import read_config

    path = tmp_path / "train.yml"
    path.write_text("train:\n  max_steps: 7\n  optim:\n    lr: 1e-3\n")
    config = read_config(path)
    assert config.max_steps == 7 and config.optim.lr == 1e-3
