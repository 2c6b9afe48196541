"""The one config file of a run (TOML, YAML or JSON): a section per stage, every field defaulted (STYLE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.pipeline.configuring import (
    Origins,
    attributed,
    expand_dotted,
    from_dict,
    merge,
    read_config_file,
    to_dict,
)
from lmforge.pipeline.curate.config import CurateConfig, SourceConfig
from lmforge.pipeline.curate.filters.config import FiltersConfig
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.privacy.config import PrivacyConfig
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.tokenize.config import ShardsConfig, TokenizerConfig
from lmforge.pipeline.train.config import TrainConfig


@dataclass(kw_only=True, slots=True, frozen=True)
class LmforgeConfig:
    """Everything `lmforge run` needs; `[section]` names match the field names."""

    curate: CurateConfig = field(default_factory=CurateConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


#: Dict fields that hold a partial table of a config section, whose dotted keys are expanded like the section's.
_PARTIAL: dict[tuple[type, str], type] = {(SourceConfig, "filters"): FiltersConfig}


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LmforgeConfig:
    """Defaults, then the TOML, YAML or JSON file at `path` (if any), then `overrides`; unknown fields are errors.

    An error names a value from the file after the file (`run.toml.dedup.margin`), one from `overrides` as such
    (`override dedup.threshold`), and a default checked against an override as a default (`dedup.margin
    (default)`): a bad `--threshold` was blamed on the file.
    Dotted keys (`train.optim.lr`, in a file or in `overrides`) mean the nested field, as TOML's unquoted ones do.
    """
    where = "config"
    from_file: dict[str, Any] = (
        expand_dotted(read_config_file(path), LmforgeConfig, str(path), _PARTIAL) if path else {}
    )
    given = expand_dotted(overrides, LmforgeConfig, "overrides", _PARTIAL) if overrides else {}
    try:
        config = from_dict(LmforgeConfig, merge(from_file, given), where=where)
        _check_source_filters(config, where)
    except ConfigError as exc:
        if not path:  # one source: "config.train.max_steps" is unambiguous
            raise
        raise ConfigError(attributed(str(exc), where, Origins(str(path), from_file, given))) from exc
    return config


def _check_source_filters(config: LmforgeConfig, where: str) -> None:
    """Check each `[curate.sources.NAME.filters]` the way curation will read it (merged over `[curate.filters]`).

    Those tables are kept as plain dicts (a partial override), so nothing checked them when the file was read: a
    misspelt filter or a NaN threshold there stopped curation only at the first document of that source, after the
    run had started (and never when no document came from it).
    """
    for name, source in config.curate.sources.items():
        if source.filters:
            merged = merge(to_dict(config.curate.filters), source.filters)
            from_dict(FiltersConfig, merged, where=f"{where}.curate.sources.{name}.filters")
