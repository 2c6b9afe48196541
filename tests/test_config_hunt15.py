"""Dotted keys, JSON configs and config files of unknown kinds (pipeline/configuring.py, pipeline/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.errors import ConfigError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- dotted keys ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("quoted.toml", '"train.max_steps" = 7\n"train.optim.lr" = 1e-3\n'),
        ("section.toml", '[train]\n"optim.lr" = 1e-3\nmax_steps = 7\n'),
        ("flat.yaml", "train.max_steps: 7\ntrain.optim.lr: 1e-3\n"),
        ("mixed.yaml", "train:\n  max_steps: 7\ntrain.optim.lr: 1e-3\n"),
        ("flat.json", '{"train.max_steps": 7, "train.optim": {"lr": 1e-3}}'),
    ],
)
def test_a_dotted_key_in_a_file_is_its_nested_field(tmp_path: Path, name: str, text: str) -> None:
    """`train.max_steps: 7` in YAML (one string key: YAML has no dotted keys) and a quoted TOML key were refused as
    "unknown field(s) ['train.max_steps'] (did you mean 'train'?)", a hint that pointed away from the fix."""
    config = load_config(_write(tmp_path, name, text))
    assert (config.train.max_steps, config.train.optim.lr) == (7, 1e-3)
    nested = load_config(_write(tmp_path, "nested.toml", "[train]\nmax_steps = 7\n[train.optim]\nlr = 1e-3\n"))
    assert config == nested and config.to_dict() == nested.to_dict()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("flat.yaml", "train.max_steps: 7\ntrain.optim.lr: 1e-3\n"),
        ("quoted.toml", '"train.max_steps" = 7\n'),
        ("bare.toml", 'max_steps = 7\n"optim.lr" = 1e-3\n'),
    ],
)
def test_the_train_config_reader_takes_dotted_train_keys(tmp_path: Path, name: str, text: str) -> None:
    """`lmforge train --config` reads a file of `train.*` keys as the train section. Before, a file with no `train`
    table was taken as a bare train table and `train.max_steps` refused as an unknown train field."""
    from lmforge.pipeline.train.config import load_train_config

    assert load_train_config(_write(tmp_path, name, text)).max_steps == 7


def test_a_dotted_override_is_its_nested_field_and_wins_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "run.toml", "[train]\nmax_steps = 7\n[train.optim]\nlr = 1e-3\n")
    config = load_config(path, overrides={"train.max_steps": 9, "privacy.actions.EMAIL": "drop"})
    assert (config.train.max_steps, config.train.optim.lr) == (9, 1e-3)
    assert config.privacy.actions["EMAIL"] == "drop"
    assert load_config(overrides={"train.optim.lr": 0.01}).train.optim.lr == 0.01


def test_a_key_given_both_dotted_and_nested_is_an_error(tmp_path: Path) -> None:
    """TOML refuses a key given twice; the dotted spelling must not pick one of the two silently."""
    path = _write(tmp_path, "twice.yaml", "train.optim.lr: 0.01\ntrain:\n  optim:\n    lr: 0.02\n")
    with pytest.raises(ConfigError, match=r"twice\.yaml\.train\.optim\.lr: given twice"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"overrides\.shards: given twice"):
        load_config(overrides={"shards": 3, "shards.seed": 1})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trian.max_steps": 5}, r"config: unknown field\(s\) \['trian\.max_steps'\]"),
        ({"train.max_stepz": 5}, r"config\.train: unknown field\(s\) \['max_stepz'\] \(did you mean 'max_steps'"),
        ({"train.max_steps.x": 5}, r"config\.train\.max_steps: expected int, got \{'x': 5\}"),
    ],
)
def test_a_dotted_key_that_names_no_field_is_still_refused(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_names_with_dots_in_tables_of_names_are_kept(tmp_path: Path) -> None:
    """Source names may hold dots (`[curate.sources."example.com"]`): only config fields are split."""
    text = '[curate.sources."example.com".filters]\n"length.min_chars" = 7\n'
    config = load_config(_write(tmp_path, "s.toml", text))
    assert config.curate.sources["example.com"].filters == {"length": {"min_chars": 7}}


def test_a_dotted_key_into_a_table_of_names_says_why_it_is_not_split(tmp_path: Path) -> None:
    path = _write(tmp_path, "s.yaml", "curate.sources.web.filters.length.min_chars: 5\n")
    with pytest.raises(
        ConfigError, match=r"s\.yaml\.curate\.sources\.web\.filters\.length\.min_chars: expected a table"
    ):
        load_config(path)
    with pytest.raises(ConfigError, match=r"write 'web' as a table of its own"):
        load_config(path)


def test_a_dotted_source_filter_override_is_merged_as_a_nested_one(tmp_path: Path) -> None:
    """`[curate.sources.web.filters]` is kept as a partial dict and merged over `[curate.filters]` at curation: a
    dotted key there must reach it nested, or the merge would hold both `length` and `length.min_chars`."""
    text = "curate:\n  sources:\n    web:\n      filters:\n        length.min_chars: 9\n"
    config = load_config(_write(tmp_path, "f.yaml", text))
    assert config.curate.sources["web"].filters == {"length": {"min_chars": 9}}
    bad = _write(tmp_path, "g.yaml", text.replace("length.min_chars", "lenght.min_chars"))
    with pytest.raises(ConfigError, match=r"g\.yaml\.curate\.sources\.web\.filters: unknown field\(s\) \['lenght"):
        load_config(bad)


# -- JSON and unknown kinds of file ------------------------------------------------------------------------------
def test_a_json_config_loads_as_its_toml_twin(tmp_path: Path) -> None:
    """A `.json` config was read as TOML: "not valid TOML (Invalid statement (at line 1, column 1))"."""
    as_json = _write(tmp_path, "run.json", '{"tokenizer": {"vocab_size": 3000}, "train": {"optim": {"lr": 0.001}}}')
    as_toml = _write(tmp_path, "run.toml", "[tokenizer]\nvocab_size = 3000\n[train.optim]\nlr = 0.001\n")
    assert load_config(as_json) == load_config(as_toml)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"train": {"seed": 1}, "train": {"seed": 2}}', r"c\.json: not valid JSON \(key 'train' is given twice\)"),
        ('{"train": {"optim": {"lr": NaN}}}', r"c\.json: not valid JSON \(NaN is not JSON"),
        ('{"train": {"seed": 1}', r"c\.json: not valid JSON \(Expecting"),
        ("[1, 2]", r"c\.json: a JSON config holds an object of sections, got a list"),
        ('{"train": {"seed": "1"}}', r"c\.json\.train\.seed: expected int, got '1'"),
        ('{"train": {"seed": 1.0}}', r"c\.json\.train\.seed: expected int, got 1\.0"),
        (
            '{"shards": {"seed": 99999999999999999999}}',
            r"c\.json\.shards\.seed: must be an integer in \[0, 9223372036854775807\]",
        ),
    ],
)
def test_a_bad_json_config_names_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, "c.json", text))


@pytest.mark.parametrize("name", ["run.ini", "run.cfg", "run", "run.toml.bak"])
def test_a_config_of_an_unknown_kind_is_refused_naming_the_known_ones(tmp_path: Path, name: str) -> None:
    """Every name not ending in .yaml/.yml was parsed as TOML, whatever it held."""
    path = _write(tmp_path, name, "[train]\nmax_steps = 3\n")
    with pytest.raises(ConfigError, match=r"unknown config file type .*; name it \.toml, \.yaml, \.yml or \.json"):
        load_config(path)


@pytest.mark.parametrize("name", ["RUN.TOML", "run.YML", "run.Json"])
def test_extensions_are_matched_in_any_case(tmp_path: Path, name: str) -> None:
    text = {
        ".toml": "[train]\nmax_steps = 3\n",
        ".yml": "train:\n  max_steps: 3\n",
        ".json": '{"train": {"max_steps": 3}}',
    }
    assert load_config(_write(tmp_path, name, text[Path(name).suffix.lower()])).train.max_steps == 3


def test_the_train_config_loader_reads_json_with_sections(tmp_path: Path) -> None:
    """`load_train_config` (the `[train]` of a run config, or a bare train table) reads JSON files too."""
    from lmforge.pipeline.train.config import load_train_config

    assert load_train_config(_write(tmp_path, "t.json", '{"train": {"max_steps": 4}}')).max_steps == 4
