"""LSTM language model baseline: embedding → stacked LSTM → linear, with the same forward contract as the GPT.

A well-tuned LSTM is the classic strong baseline for small-data language modelling (Merity et al. 2017,
"Regularizing and Optimizing LSTM Language Models"); here it answers "does the transformer earn its keep?".
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from lmforge.pipeline.train.models import LSTMConfig


class LSTMState:
    """The recurrent state (h, c) carried between `decode` calls; None until the first call."""

    def __init__(self) -> None:
        self.hc: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self) -> None:
        self.hc = None


class LSTMLM(nn.Module):
    def __init__(self, config: LSTMConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.block_size: int | None = None  # no context limit: the state carries the past
        needs_proj = config.tie_embeddings and config.hidden_size != config.n_embd
        out_width = config.n_embd if needs_proj else config.hidden_size
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        # Not nn.LSTM's own proj_size: the fused oneDNN CPU kernel does not support it.
        self.lstm = nn.LSTM(
            config.n_embd,
            config.hidden_size,
            num_layers=config.n_layer,
            batch_first=True,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
        )
        self.proj = nn.Linear(config.hidden_size, config.n_embd, bias=False) if needs_proj else nn.Identity()
        self.lm_head = nn.Linear(out_width, vocab_size, bias=True)
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        else:
            nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.02)
        nn.init.zeros_(self.lm_head.bias)

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (a tied matrix counts once); optionally without the token table."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wte.weight.numel() if exclude_embeddings else n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token ≈ 6N (Kaplan et al. 2020, section 2.1): every weight is one multiply-add
        forward and two backward; the embedding lookup is no matmul unless tied to the output."""
        n = self.num_params()
        if not self.config.tie_embeddings:
            n -= self.wte.weight.numel()
        return 6.0 * n

    def _run(self, idx: torch.Tensor, hc: tuple[torch.Tensor, torch.Tensor] | None):
        x = self.drop(self.wte(idx))  # (B, T, E)
        y, hc = self.lstm(x, hc)  # (B, T, hidden)
        return self.lm_head(self.drop(self.proj(y))), hc  # (B, T, V)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) → logits (B, T, V) from a zero state, and the mean cross-entropy when targets are given."""
        logits, _ = self._run(idx, None)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def new_cache(self, batch_size: int) -> LSTMState:
        return LSTMState()

    @torch.no_grad()
    def decode(self, idx: torch.Tensor, cache: LSTMState) -> torch.Tensor:
        """Run idx (B, T) from the carried state, update it in place; logits (B, T, V)."""
        logits, cache.hc = self._run(idx, cache.hc)
        return logits
