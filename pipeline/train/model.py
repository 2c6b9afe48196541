"""A GPT decoder in one readable file (nanoGPT-style): config, blocks in the order data flows, KV cache.

Shapes: B batch, T time (tokens), C width (n_embd), H heads, D head width (C // H), V vocab.
Pre-LayerNorm residual blocks (GPT-2, Radford et al. 2019, section 2.3), causal self-attention through
PyTorch's fused `F.scaled_dot_product_attention`, rotary or learned positions, optionally tied embeddings.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lmforge.pipeline.train.models import GPTConfig


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to the context length.

    `pos` is how many positions are filled; `GPT.decode` appends and advances it.
    """

    def __init__(
        self,
        n_layer: int,
        batch: int,
        n_head: int,
        max_len: int,
        head_dim: int,
        *,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        shape = (batch, n_head, max_len, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layer)]
        self.max_len = max_len
        self.pos = 0

    def reset(self) -> None:
        self.pos = 0


def rope_tables(block_size: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (block_size, head_dim) for rotating pairs (i, i + D/2) by angle pos·θ^(-2i/D)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))  # (D/2,)
    angles = torch.outer(torch.arange(block_size, dtype=torch.float32), inv_freq)  # (T, D/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, D)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, H, T, D) by position; cos/sin (T, D). The "rotate half" layout of GPT-NeoX."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        cache: tuple[torch.Tensor, torch.Tensor, int] | None = None,
    ) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 × (B, T, C)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        mask, is_causal = None, True
        if cache is not None:
            k_all, v_all, pos = cache
            k_all[:, :, pos : pos + T] = k
            v_all[:, :, pos : pos + T] = v
            k, v = k_all[:, :, : pos + T], v_all[:, :, : pos + T]  # (B, H, pos+T, D)
            if pos > 0:
                # SDPA's is_causal aligns the mask top-left, which is wrong once keys outnumber queries:
                # query i sits at absolute position pos + i and may see keys 0 .. pos + i.
                is_causal = False
                if T > 1:
                    mask = torch.ones(T, pos + T, dtype=torch.bool, device=x.device).tril(diagonal=pos)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)  # 4× width (GPT-2)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        cache: tuple[torch.Tensor, torch.Tensor, int] | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), rope, cache)  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.block_size = config.block_size
        self.wte = nn.Embedding(vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.pos == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # one (V, C) tensor for both ends
        if config.pos == "rope":
            cos, sin = rope_tables(config.block_size, config.n_embd // config.n_head, config.rope_base)
            # Not persistent: recomputed from the config, so checkpoints stay small and exact.
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2 (Radford et al. 2019, section 2.3): scale residual projections by 1/sqrt(number of residual layers).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (a tied matrix counts once); optionally without the token/position tables."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= self.wte.weight.numel()
            if self.wpe is not None:
                n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token, forward + backward: 6N + 12·L·H·Q·T (PaLM, Chowdhery et al. 2022, appendix B).

        N counts the parameters used in matmuls: everything but the position table, so the output projection is
        included even when tied (as nanoGPT's `estimate_mfu` does). The second term is attention's QKᵀ and AV.
        """
        cfg = self.config
        n = self.num_params() - (self.wpe.weight.numel() if self.wpe is not None else 0)
        if not cfg.tie_embeddings:
            n -= self.wte.weight.numel()  # the lookup table is no matmul; the untied lm_head still counts
        t = seq_len or cfg.block_size
        return 6.0 * n + 12.0 * cfg.n_layer * cfg.n_head * (cfg.n_embd // cfg.n_head) * t

    def _embed(self, idx: torch.Tensor, start: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        T = idx.shape[1]
        if start + T > self.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds the context length {self.block_size}")
        x = self.wte(idx)  # (B, T, C)
        rope = None
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))  # (B, T, C) + (T, C)
        else:
            rope = (self.rope_cos[start : start + T], self.rope_sin[start : start + T])  # 2 × (T, D)
        return self.drop(x), rope

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids → logits (B, T, V) and, given targets (B, T), mean cross-entropy over positions."""
        x, rope = self._embed(idx, 0)
        for block in self.blocks:
            x = block(x, rope)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def new_cache(self, batch_size: int) -> KVCache:
        """An empty KV cache for `decode`, with the dtype and device of the model's weights."""
        w = self.wte.weight
        return KVCache(
            self.config.n_layer,
            batch_size,
            self.config.n_head,
            self.block_size,
            self.config.n_embd // self.config.n_head,
            device=w.device,
            dtype=w.dtype,
        )

    @torch.no_grad()
    def decode(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Run idx (B, T) after the `cache.pos` tokens already cached, append their keys/values; logits (B, T, V).

        Prefill is one call with the whole prompt; then one call per new token (T = 1).
        """
        start = cache.pos
        x, rope = self._embed(idx, start)
        for i, block in enumerate(self.blocks):
            x = block(x, rope, (cache.k[i], cache.v[i], start))
        cache.pos = start + idx.shape[1]
        return self.lm_head(self.ln_f(x))  # (B, T, V)
