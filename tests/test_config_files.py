"""Config files at their edges: what a TOML or YAML reader hands over that the user did not mean, and files that are
not configs at all. Each must load as meant or stop with the file and field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.pipeline.config import load_config
from lmforge.pipeline.errors import ConfigError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_toml_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    """Notepad starts UTF-8 files with a BOM; tomllib refused it as "Invalid statement" at line 1."""
    for name in ("bom.toml", "bom.yaml"):
        text = "[tokenizer]\nvocab_size = 3000\n" if name.endswith(".toml") else "tokenizer:\n  vocab_size: 3000\n"
        assert load_config(_write(tmp_path, name, "\ufeff" + text)).tokenizer.vocab_size == 3000


@pytest.mark.parametrize(
    "text",
    ["shards:\n  seed: 1\n  seed: 2\n", "shards:\n  seed: 1\nshards:\n  val_fraction: 0.2\n"],
    ids=["key", "section"],
)
def test_a_yaml_key_given_twice_is_an_error(tmp_path: Path, text: str) -> None:
    """TOML refuses a key given twice; PyYAML kept the last silently, so a second `shards:` dropped the first."""
    path = _write(tmp_path, "dup.yaml", text)
    with pytest.raises(
        ConfigError, match=r"(?s)dup\.yaml: not valid YAML .*found duplicate key '(seed|shards)'.*line 3"
    ):
        load_config(path)


def test_yaml_anchors_and_merge_keys_may_override_what_they_bring(tmp_path: Path) -> None:
    text = (
        "tokenizer: &tok {vocab_size: 3000, seed: 1}\n"
        "shards: {seed: 5, val_fraction: 0.1}\n"
        "train:\n  data: &data {batch_size: 4}\n  optim: {lr: 1e-3}\n"
        "registry: {<<: {eval_batch_size: 2, smoke_tokens: 1}, smoke_tokens: 0}\n"
    )
    config = load_config(_write(tmp_path, "anchors.yaml", text))
    assert config.tokenizer.seed == 1 and config.train.data.batch_size == 4
    assert (config.registry.eval_batch_size, config.registry.smoke_tokens) == (2, 0)


@pytest.mark.parametrize(
    ("value", "message"),
    [("010", r"expected int, got '010'"), ("1:20", r"expected int, got '1:20'"), ("1__0", r"expected int, got '1__0'")],
)
def test_yaml_integers_that_yaml_1_1_and_1_2_read_differently_are_refused(
    tmp_path: Path, value: str, message: str
) -> None:
    """PyYAML read `seed: 010` as 8 (YAML 1.1 octal) and `1:20` as 80 (base 60); YAML 1.2 reads 10 and a string,
    TOML refuses both. Neither number is safe to guess."""
    path = _write(tmp_path, "n.yaml", f"shards:\n  seed: {value}\n")
    with pytest.raises(ConfigError, match=rf"n\.yaml\.shards\.seed: {message}"):
        load_config(path)


@pytest.mark.parametrize(("value", "number"), [("0o17", 15), ("0x1F", 31), ("0b11", 3), ("1_000", 1000), ("0", 0)])
def test_yaml_integers_read_as_toml_reads_them(tmp_path: Path, value: str, number: int) -> None:
    assert load_config(_write(tmp_path, "n.yaml", f"shards:\n  seed: {value}\n")).shards.seed == number


def test_yaml_booleans_as_keys_are_refused_not_renamed(tmp_path: Path) -> None:
    """`no:` is False under YAML 1.1: the Norwegian stop words became the list of a language called "False"."""
    path = _write(
        tmp_path, "no.yaml", "curate:\n  filters:\n    gopher_quality:\n      stop_words:\n        no: [og]\n"
    )
    with pytest.raises(ConfigError, match=r"stop_words: key False is not a string \(YAML 1\.1 reads yes/no/on/off"):
        load_config(path)
    path.write_text('curate:\n  filters:\n    gopher_quality:\n      stop_words:\n        "no": [og]\n')
    assert load_config(path).curate.filters.gopher_quality.stop_words["no"] == ["og"]


def test_yaml_int_keys_are_their_digits(tmp_path: Path) -> None:
    text = "curate:\n  filters:\n    gopher_repetition:\n      top_ngrams: {2: 0.3}\n"
    assert load_config(_write(tmp_path, "k.yaml", text)).curate.filters.gopher_repetition.top_ngrams == {"2": 0.3}
    path = _write(tmp_path, "k2.yaml", text.replace("{2: 0.3}", "{2: 0.3, '2': 0.1}"))
    with pytest.raises(ConfigError, match=r"top_ngrams: key '2' is given twice"):
        load_config(path)


def test_unknown_keys_of_mixed_types_are_an_error_not_a_crash(tmp_path: Path) -> None:
    """Sorting the unknown keys [1, 'x'] raised TypeError out of the loader."""
    with pytest.raises(ConfigError, match=r"k\.yaml\.shards: unknown field\(s\) \[1, 'x'\]"):
        load_config(_write(tmp_path, "k.yaml", "shards: {1: 2, x: 3}\n"))


def test_a_misspelt_field_gets_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"t\.toml\.train: unknown field\(s\) \['max_step'\] \(did you mean 'max_steps'"
    ):
        load_config(_write(tmp_path, "t.toml", "[train]\nmax_step = 3\n"))


def test_a_float_for_an_int_says_how_to_write_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"vocab_size: expected int, got 8000\.0 \(write 8000, without"):
        load_config(_write(tmp_path, "f.toml", "[tokenizer]\nvocab_size = 8000.0\n"))


def test_an_empty_yaml_section_is_the_defaults(tmp_path: Path) -> None:
    """`shards:` with every line under it commented out is null: no settings, as an empty `[shards]` table."""
    path = _write(tmp_path, "e.yaml", "shards:\n#  seed: 3\ntrain:\n  optim:\n  max_steps: 5\n")
    config = load_config(path)
    assert config.shards == load_config().shards and config.train.optim == load_config().train.optim
    assert config.train.max_steps == 5


@pytest.mark.parametrize(("text", "kind"), [("- a\n", "list"), ("just words\n", "str"), ("3\n", "int")])
def test_a_yaml_file_that_is_not_a_mapping_is_an_error(tmp_path: Path, text: str, kind: str) -> None:
    with pytest.raises(ConfigError, match=rf"s\.yaml: a YAML config holds a mapping of sections, got a {kind}"):
        load_config(_write(tmp_path, "s.yaml", text))


@pytest.mark.parametrize("name", ["s.toml", "s.yaml"])
def test_a_section_given_as_a_string_is_an_error(tmp_path: Path, name: str) -> None:
    text = 'shards = "big"\n' if name.endswith(".toml") else "shards: big\n"
    with pytest.raises(ConfigError, match=rf"{name}\.shards: expected a table, got str"):
        load_config(_write(tmp_path, name, text))


def test_a_folder_given_as_the_config_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": is a folder; --config takes a TOML, YAML or JSON file"):
        load_config(tmp_path)


def test_an_empty_toml_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "e.toml", "")) == load_config()


def test_a_source_filter_override_is_checked_when_the_file_is_read(tmp_path: Path) -> None:
    """`[curate.sources.NAME.filters]` stays a plain dict until curation merges it: a misspelt filter or a bad
    threshold there stopped the run at the first document of that source, or never when none came."""
    path = _write(tmp_path, "s.toml", "[curate.sources.web.filters.lenght]\nmin_chars = 1\n")
    with pytest.raises(ConfigError, match=r"s\.toml\.curate\.sources\.web\.filters: unknown field\(s\) \['lenght'\]"):
        load_config(path)
    path.write_text("[curate.sources.web.filters.length]\nmin_chars = nan\n")
    with pytest.raises(
        ConfigError,
        match=r"s\.toml\.curate\.sources\.web\.filters\.length\.min_chars: expected a finite number, got nan",
    ):
        load_config(path)
    path.write_text("[curate.sources.web.filters.length]\nmin_chars = 10\n")
    assert load_config(path).curate.sources["web"].filters == {"length": {"min_chars": 10}}


def test_an_override_of_a_field_that_does_not_exist_is_an_error() -> None:
    """A dotted key is its nested field (tests/test_config_hunt15.py); one whose head is no section is refused."""
    with pytest.raises(ConfigError, match=r"config: unknown field\(s\) \['trian\.max_steps'\]"):
        load_config(overrides={"trian.max_steps": 5})
    with pytest.raises(ConfigError, match=r"config\.train: unknown field\(s\) \['max_step'\]"):
        load_config(overrides={"train.max_step": 5})
    with pytest.raises(ConfigError, match=r"config\.train\.optim: unknown field\(s\) \['learning_rate'\]"):
        load_config(overrides={"train": {"optim": {"learning_rate": 1e-3}}})


def test_unicode_keys_are_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"u\.toml\.tokenizer: unknown field\(s\) \['vocab_sïze'\]"):
        load_config(_write(tmp_path, "u.toml", '[tokenizer]\n"vocab_sïze" = 3000\n'))
