"""The `[train]` config section: one frozen dataclass per concern (data, optimizer, checkpoints, tracking), torchtitan
style, plus the run-level knobs (steps, precision, parallelism). Every field defaulted and validated."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lmforge.pipeline.configuring import check, from_dict, read_config_file
from lmforge.pipeline.train.models import ModelConfig


@dataclass(kw_only=True, slots=True, frozen=True)
class DataConfig:
    """`[train.data]`: how the shard loader cuts the token stream into batches."""

    batch_size: int = 8
    """Sequences per micro-batch on each rank (global batch = batch_size × grad_accum × world size)."""
    seq_len: int = 128
    """Tokens per training sequence T; a sample is a window of T + 1 tokens (inputs and shifted targets)."""
    drop_last: bool = True
    """Drop the last incomplete global batch of an epoch (False: fill it from the start of the epoch's order)."""

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "train.data.batch_size", "must be at least 1")
        check(self.seq_len >= 1, "train.data.seq_len", "must be at least 1")


@dataclass(kw_only=True, slots=True, frozen=True)
class OptimConfig:
    """`[train.optim]`: AdamW with linear warmup then cosine decay; defaults from GPT-3 (Brown et al. 2020,
    appendix B: betas 0.9/0.95, weight decay 0.1, clip 1.0, decay to 10 % of the peak)."""

    lr: float = 6e-4
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Floor of the cosine decay, as a fraction of `lr` (GPT-3: 10 %)."""
    warmup_steps: int = 20
    """Linear warmup steps from ~0 to `lr`."""
    weight_decay: float = 0.1
    """Decoupled weight decay on matrices (2-D+ params); norms, biases and 1-D params get none (nanoGPT)."""
    beta1: float = 0.9
    """AdamW β1."""
    beta2: float = 0.95
    """AdamW β2 (GPT-3 uses 0.95 rather than Adam's 0.999 for stability)."""
    eps: float = 1e-8
    """AdamW ε."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this; 0 disables clipping (the norm is still logged)."""

    def __post_init__(self) -> None:
        check(0 < self.lr < math.inf, "train.optim.lr", "must be positive and finite")
        check(0.0 <= self.min_lr_ratio <= 1.0, "train.optim.min_lr_ratio", "must be in [0, 1]")
        check(self.warmup_steps >= 0, "train.optim.warmup_steps", "must be ≥ 0")
        check(0 <= self.weight_decay < math.inf, "train.optim.weight_decay", "must be ≥ 0 and finite")
        check(0.0 <= self.beta1 < 1.0, "train.optim.beta1", "must be in [0, 1)")
        check(0.0 <= self.beta2 < 1.0, "train.optim.beta2", "must be in [0, 1)")
        check(self.eps > 0, "train.optim.eps", "must be positive")
        check(self.grad_clip >= 0, "train.optim.grad_clip", "must be ≥ 0 (0 disables clipping)")


@dataclass(kw_only=True, slots=True, frozen=True)
class CheckpointConfig:
    """`[train.checkpoint]`: when to save, and how many to keep."""

    every: int = 50
    """Save every this many optimizer steps (and always at the end)."""
    keep: int = 2
    """Keep the newest this many checkpoints; older ones are deleted after a new one is in place."""

    def __post_init__(self) -> None:
        check(self.every >= 1, "train.checkpoint.every", "must be at least 1")
        check(self.keep >= 1, "train.checkpoint.keep", "must be at least 1")


@dataclass(kw_only=True, slots=True, frozen=True)
class TrackingConfig:
    """`[train.tracking]`: what goes to MLflow (rank 0 only) and how often."""

    mlflow: bool = True
    """Log params, metrics, plots and samples to MLflow (URI from MLFLOW_TRACKING_URI, else the workspace SQLite)."""
    experiment: str = "lmforge"
    """MLflow experiment name."""
    log_every: int = 10
    """Send buffered metrics to MLflow (and log a line) every this many steps."""
    eval_every: int = 50
    """Validation loss and perplexity every this many steps (and at the end); 0 disables."""
    eval_batches: int = 8
    """Micro-batches per rank in each validation pass."""
    system_metrics: bool = True
    """Let MLflow sample CPU/GPU/memory use (needs psutil; silently off without it)."""
    sample_prompts: tuple[str, ...] = ("The", "In the beginning", "Once upon a time")
    """Fixed prompts whose continuations are logged as an MLflow table at the end of training."""
    sample_tokens: int = 32
    """New tokens per sample."""

    def __post_init__(self) -> None:
        check(self.log_every >= 1, "train.tracking.log_every", "must be at least 1")
        check(self.eval_every >= 0, "train.tracking.eval_every", "must be ≥ 0 (0 disables)")
        check(self.eval_batches >= 1, "train.tracking.eval_batches", "must be at least 1")
        check(self.sample_tokens >= 0, "train.tracking.sample_tokens", "must be ≥ 0")
        check(bool(self.experiment), "train.tracking.experiment", "must not be empty")


@dataclass(kw_only=True, slots=True, frozen=True)
class TrainConfig:
    """`[train]`: everything that decides what a training run computes. Its digest (with the shards id) names the
    run folder, so changing any field starts a new run instead of resuming an old one."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """Architecture and size (`[train.model]`, `[train.model.gpt]`, `[train.model.lstm]`)."""
    data: DataConfig = field(default_factory=DataConfig)
    """Batching (`[train.data]`)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and schedule (`[train.optim]`)."""
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    """Checkpoint cadence (`[train.checkpoint]`)."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """MLflow logging (`[train.tracking]`)."""
    max_steps: int = 200
    """Optimizer steps to train for."""
    grad_accum: int = 1
    """Micro-batches per optimizer step on each rank (gradients summed, DDP syncs only on the last)."""
    seed: int = 1337
    """Seeds model init, data order and every RNG (python, numpy, torch; offset by rank where ranks must differ)."""
    dtype: Literal["fp32", "bf16"] = "fp32"
    """Compute precision: bf16 runs forward/backward under autocast (CPU and GPU); weights and optimizer stay fp32."""
    parallel: Literal["ddp", "fsdp"] = "ddp"
    """Data parallelism: DDP (replicated weights), or FSDP2 `fully_shard` (sharded; GPU runs)."""
    compile: bool = False
    """Wrap the model in `torch.compile` (worth it on GPU; slow to start on CPU)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train: `auto` = CUDA (NCCL) when present, else CPU (gloo)."""

    def __post_init__(self) -> None:
        check(self.max_steps >= 1, "train.max_steps", "must be at least 1")
        check(self.grad_accum >= 1, "train.grad_accum", "must be at least 1")
        # numpy's generators take no negative seed, and torch.manual_seed none past 2^64 (ranks add their index)
        check(0 <= self.seed < 1 << 63, "train.seed", "must be in [0, 2^63)")
        ctx = self.model.context_length
        check(
            ctx is None or self.data.seq_len <= ctx,
            "train.data.seq_len",
            f"{self.data.seq_len} exceeds the model's context (model.gpt.block_size = {ctx})",
        )

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step on one rank (multiply by the world size for the global count)."""
        return self.data.batch_size * self.data.seq_len * self.grad_accum


def load_train_config(path: str | Path) -> TrainConfig:
    """The `[train]` section of an lmforge TOML file (the other sections are checked too, and ignored here)."""
    from lmforge.pipeline.config import load_config

    data = read_config_file(path)
    if "train" not in data:
        # A file holding only the train section's fields is accepted as well.
        return from_dict(TrainConfig, data, where=f"{path}")
    return load_config(path).train
