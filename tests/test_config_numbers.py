"""Every number of every config section, fed NaN, ±inf, a bool, a float for an int, an int past 64 bits and -1
through a real config file: each must stop the load with an error naming the file and the field."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmforge.pipeline.config import LmforgeConfig, load_config
from lmforge.pipeline.configuring import check_real, check_whole, real, whole
from lmforge.pipeline.errors import ConfigError


def _numeric_fields(cls: type, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type]]:
    """(dotted path, int or float) of every number field under `cls`, nested sections included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _numeric_fields(tp, (*path, f.name))
            continue
        kinds = [a for a in (typing.get_args(tp) or (tp,)) if a in (int, float)]
        if kinds:
            yield (*path, f.name), kinds[0]


FIELDS = sorted(_numeric_fields(LmforgeConfig))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value)


def _write(tmp_path: Path, path: tuple[str, ...], value: object) -> Path:
    config = tmp_path / "run.toml"
    config.write_text(f"[{'.'.join(path[:-1])}]\n{path[-1]} = {_toml_value(value)}\n", encoding="utf-8")
    return config


def _assert_names(config: Path, path: tuple[str, ...], message: str) -> None:
    """The message starts with the file and the section and names the field: a check across fields may name its
    partner first ("dedup.bands: set bands and rows together", "max_chars: must be >= min_chars")."""
    assert message.startswith(f"{config}.{path[0]}.") and path[-1] in message, message


def _bad_values(kind: type) -> list[object]:
    values: list[object] = [math.nan, math.inf, -math.inf, True]
    return [*values, 1 << 63, 8.0] if kind is int else values


@pytest.mark.parametrize(("path", "kind"), FIELDS, ids=[".".join(p) for p, _ in FIELDS])
def test_a_number_that_is_not_one_names_the_file_and_field(tmp_path: Path, path: tuple[str, ...], kind: type) -> None:
    """NaN passed the stages' `x < 0`-style checks (every comparison with NaN is false) and +inf passed `x >= 0`;
    a 2^63 from YAML or TOML reached numpy/pyarrow; all now stop the load."""
    for value in _bad_values(kind):
        config = _write(tmp_path, path, value)
        with pytest.raises(ConfigError) as caught:
            load_config(config)
        _assert_names(config, path, str(caught.value))


@pytest.mark.parametrize("path", [p for p, _ in FIELDS], ids=[".".join(p) for p, _ in FIELDS])
def test_a_negative_number_names_the_file_and_field(tmp_path: Path, path: tuple[str, ...]) -> None:
    """No config number means anything below 0 (counts, sizes, seeds, fractions, thresholds)."""
    config = _write(tmp_path, path, -1)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    _assert_names(config, path, str(caught.value))


def test_a_stage_check_names_the_file_and_the_whole_path(tmp_path: Path) -> None:
    """The stages' __post_init__ name their fields from their own section down ("clean.max_bytes",
    "filters.length.min_chars"): the message lacked the file, and the section it sits in."""
    config = tmp_path / "run.toml"
    cases = {
        "[curate.clean]\nmax_bytes = 0\n": "curate.clean.max_bytes: must be positive",
        "[curate.filters.length]\nmin_chars = 10\nmax_chars = 5\n": "curate.filters.length.max_chars: must be >=",
        "[registry]\nmin_improvement = -0.5\n": "registry.min_improvement: must be ≥ 0",
        "[train.data]\nseq_len = 512\n": "train.data.seq_len: 512 exceeds",
        "[train.model.gpt]\nn_head = 3\n": "train.model.gpt.n_embd: 256 is not divisible",
    }
    for text, message in cases.items():
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_config(config)
        assert str(caught.value).startswith(f"{config}.{message}"), str(caught.value)


def test_whole_and_real() -> None:
    assert whole(3, 1) and whole(0, 0, 0) and not whole(True, 0) and not whole(3.0, 1) and not whole(5, 1, 4)
    assert real(0) and real(-2.5) and not real(math.nan) and not real(math.inf) and not real(False) and not real("1")


def test_check_whole_and_check_real_name_the_key_and_range() -> None:
    check_whole(4, "x.n", 1, 8)
    check_real(0.5, "x.f", 0, 1)
    with pytest.raises(ConfigError, match=r"^x\.n: must be an integer in \[1, 8\], got True$"):
        check_whole(True, "x.n", 1, 8)
    with pytest.raises(ConfigError, match=r"^x\.n: must be an integer ≥ 0, got -1$"):
        check_whole(-1, "x.n", 0)
    with pytest.raises(ConfigError, match=r"^x\.f: must be a finite number in \[0, 1\], got nan$"):
        check_real(math.nan, "x.f", 0, 1)
    with pytest.raises(ConfigError, match=r"^x\.f: must be a finite number, got inf$"):
        check_real(math.inf, "x.f")
