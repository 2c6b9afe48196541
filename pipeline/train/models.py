"""Which model to train: the `[model]` config section and the one place that builds a model from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from lmforge.pipeline.configuring import check
from lmforge.pipeline.train.lstm import LSTMLM, LSTMConfig
from lmforge.pipeline.train.model import GPT, GPTConfig


@dataclass(kw_only=True, slots=True, frozen=True)
class ModelConfig:
    """`[model]` in the training TOML: `kind` picks the architecture, `[model.gpt]` / `[model.lstm]` size it."""

    kind: Literal["gpt", "lstm"] = "gpt"
    """Architecture: the GPT decoder or the LSTM baseline."""
    gpt: GPTConfig = field(default_factory=GPTConfig)
    """GPT settings (used when kind = "gpt")."""
    lstm: LSTMConfig = field(default_factory=LSTMConfig)
    """LSTM settings (used when kind = "lstm")."""

    def __post_init__(self) -> None:
        check(self.kind in ("gpt", "lstm"), "model.kind", f"{self.kind!r} is not one of ['gpt', 'lstm']")

    @property
    def context_length(self) -> int | None:
        """The most tokens the model can attend over (GPT block size); None for the LSTM (no limit)."""
        return self.gpt.block_size if self.kind == "gpt" else None


def build_model(config: ModelConfig, vocab_size: int) -> torch.nn.Module:
    """A freshly initialised model; `model(idx, targets=None) -> (logits (B, T, V), loss | None)`.

    Both kinds also offer `num_params()`, `flops_per_token(seq_len)`, `new_cache(batch)` and `decode(idx, cache)`
    (incremental decoding for sampling) and a `block_size` attribute (None for the LSTM).
    """
    check(vocab_size >= 2, "vocab_size", f"must be at least 2, got {vocab_size}")
    if config.kind == "gpt":
        return GPT(config.gpt, vocab_size)
    return LSTMLM(config.lstm, vocab_size)
