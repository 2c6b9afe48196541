"""Which model to train: the `[model]` config section (GPT and LSTM sizes; no torch needed to read it) and the one
place that builds a model from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from lmforge.pipeline.configuring import check, real, whole

if TYPE_CHECKING:
    import torch


@dataclass(kw_only=True, slots=True, frozen=True)
class GPTConfig:
    """Default: 4 layers × 4 heads × width 256, context 256 (~3.2M params plus 256·V embedding), small enough to
    train in a few minutes on 2 CPU cores and clearly beat a unigram model on a few MB of text."""

    n_layer: int = 4
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block; n_embd must be divisible by it."""
    n_embd: int = 256
    """Residual stream width C."""
    block_size: int = 256
    """Context length: the most tokens the model attends over."""
    pos: Literal["rope", "learned"] = "rope"
    """Positions: rotary (RoFormer, Su et al. 2021) or a learned table (GPT-2)."""
    rope_base: float = 10000.0
    """RoPE frequency base θ (RoFormer, Su et al. 2021, eq. 15)."""
    tie_embeddings: bool = True
    """Share the token embedding with the output projection (Press & Wolf 2017); saves V·C params."""
    dropout: float = 0.0
    """Dropout on attention, residual branches and embeddings; 0 for small data trained few steps."""
    bias: bool = False
    """Biases in Linear and LayerNorm layers (GPT-2 has them; nanoGPT shows they are not needed)."""

    def __post_init__(self) -> None:
        check(whole(self.n_layer, 1), "model.gpt.n_layer", f"must be an integer ≥ 1, got {self.n_layer!r}")
        check(whole(self.n_head, 1), "model.gpt.n_head", f"must be an integer ≥ 1, got {self.n_head!r}")
        check(whole(self.n_embd, 1), "model.gpt.n_embd", f"must be an integer ≥ 1, got {self.n_embd!r}")
        check(self.n_embd % self.n_head == 0, "model.gpt.n_embd", f"{self.n_embd} is not divisible by n_head")
        check(
            self.pos != "rope" or (self.n_embd // self.n_head) % 2 == 0,
            "model.gpt.n_head",
            "RoPE needs an even head width (n_embd // n_head)",
        )
        check(whole(self.block_size, 1), "model.gpt.block_size", f"must be an integer ≥ 1, got {self.block_size!r}")
        # θ ≤ 1 makes every pair of dimensions rotate at the same or a rising rate (no long wavelengths), and an
        # infinite or NaN θ turns the rotation tables into NaN: every loss of the run is then NaN.
        check(
            real(self.rope_base) and self.rope_base > 1,
            "model.gpt.rope_base",
            f"must be a finite number > 1 (RoFormer uses 10000), got {self.rope_base!r}",
        )
        check(0.0 <= self.dropout < 1.0, "model.gpt.dropout", f"must be in [0, 1), got {self.dropout!r}")


@dataclass(kw_only=True, slots=True, frozen=True)
class LSTMConfig:
    """Default: 2 layers, embedding 256, hidden 512: ~3.8M parameters besides the 256·V embedding, close to the
    default GPT's ~3.1M, so the comparison is at about equal size."""

    n_layer: int = 2
    """Stacked LSTM layers."""
    n_embd: int = 256
    """Token embedding width (also the LSTM output width when the embeddings are tied)."""
    hidden_size: int = 512
    """LSTM hidden state width."""
    tie_embeddings: bool = True
    """Share the input embedding with the output layer (Press & Wolf 2017; Inan et al. 2017); when hidden_size
    differs from n_embd a linear layer projects the LSTM output down to n_embd first."""
    dropout: float = 0.0
    """Dropout on embeddings, between layers and before the output; 0 for small data trained few steps."""

    def __post_init__(self) -> None:
        check(whole(self.n_layer, 1), "model.lstm.n_layer", f"must be an integer ≥ 1, got {self.n_layer!r}")
        check(whole(self.n_embd, 1), "model.lstm.n_embd", f"must be an integer ≥ 1, got {self.n_embd!r}")
        check(whole(self.hidden_size, 1), "model.lstm.hidden_size", f"must be an integer ≥ 1, got {self.hidden_size!r}")
        check(0.0 <= self.dropout < 1.0, "model.lstm.dropout", f"must be in [0, 1), got {self.dropout!r}")


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
    from lmforge.pipeline.train.lstm import LSTMLM
    from lmforge.pipeline.train.model import GPT

    check(vocab_size >= 2, "vocab_size", f"must be at least 2, got {vocab_size}")
    if config.kind == "gpt":
        return GPT(config.gpt, vocab_size)
    return LSTMLM(config.lstm, vocab_size)
