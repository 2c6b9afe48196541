"""The one config file of a run (TOML, or YAML): a section per stage, every field defaulted (STYLE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.pipeline.configuring import from_dict, merge, read_config_file, to_dict
from lmforge.pipeline.curate.config import CurateConfig
from lmforge.pipeline.curate.filters.config import FiltersConfig
from lmforge.pipeline.dedup.config import DedupConfig
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


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LmforgeConfig:
    """Defaults, then the TOML or YAML file at `path` (if any), then `overrides`; unknown fields are errors."""
    data: dict[str, Any] = read_config_file(path) if path else {}
    if overrides:
        data = merge(data, overrides)
    where = str(path) if path else "config"
    config = from_dict(LmforgeConfig, data, where=where)
    _check_source_filters(config, where)
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
