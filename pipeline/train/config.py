"""The `[train]` config section: one frozen dataclass per concern (data, optimizer, checkpoints, tracking), torchtitan
style, plus the run-level knobs (steps, precision, parallelism). Every field defaulted and validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lmforge.pipeline.configuring import check, expand_dotted, from_dict, read_config_file, real, whole
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.models import ModelConfig

SAMPLE_TOKENS_MAX = 4096
"""The most new tokens per logged sample: samples are a glance at the model at the end of a run, decoded one token at a
time on rank 0 while the other ranks wait; 4096 is 16 contexts of the default GPT, far past what a reader looks at."""


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
        check(whole(self.batch_size, 1), "train.data.batch_size", f"must be an integer ≥ 1, got {self.batch_size!r}")
        check(whole(self.seq_len, 1), "train.data.seq_len", f"must be an integer ≥ 1, got {self.seq_len!r}")


@dataclass(kw_only=True, slots=True, frozen=True)
class OptimConfig:
    """`[train.optim]`: AdamW with linear warmup then cosine decay; defaults from GPT-3 (Brown et al. 2020,
    appendix B: betas 0.9/0.95, weight decay 0.1, clip 1.0, decay to 10 % of the peak)."""

    lr: float = 6e-4
    """Peak learning rate."""
    min_lr_ratio: float = 0.1
    """Floor of the cosine decay, as a fraction of `lr` (GPT-3: 10 %)."""
    warmup_steps: int = 20
    """Linear warmup steps from ~0 to `lr`; one ≥ max_steps never reaches `lr` (accepted, with a warning: nanoGPT
    neither clamps nor warns, litgpt warns and clamps; lmforge keeps the schedule the config asks for)."""
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
        # Every float check starts with real(): NaN fails each comparison below, but +inf passes a bare `> 0`.
        check(real(self.lr) and self.lr > 0, "train.optim.lr", f"must be positive and finite, got {self.lr!r}")
        check(
            real(self.min_lr_ratio) and 0.0 <= self.min_lr_ratio <= 1.0,
            "train.optim.min_lr_ratio",
            f"must be in [0, 1], got {self.min_lr_ratio!r}",
        )
        check(
            whole(self.warmup_steps, 0),
            "train.optim.warmup_steps",
            f"must be an integer ≥ 0, got {self.warmup_steps!r}",
        )
        check(
            real(self.weight_decay) and self.weight_decay >= 0,
            "train.optim.weight_decay",
            f"must be ≥ 0 and finite, got {self.weight_decay!r}",
        )
        check(
            real(self.beta1) and 0.0 <= self.beta1 < 1.0, "train.optim.beta1", f"must be in [0, 1), got {self.beta1!r}"
        )
        check(
            real(self.beta2) and 0.0 <= self.beta2 < 1.0, "train.optim.beta2", f"must be in [0, 1), got {self.beta2!r}"
        )
        # An infinite ε makes every AdamW update 0 (nothing trains, silently); 0 divides by zero on a zero gradient.
        check(real(self.eps) and self.eps > 0, "train.optim.eps", f"must be positive and finite, got {self.eps!r}")
        check(
            real(self.grad_clip) and self.grad_clip >= 0,
            "train.optim.grad_clip",
            f"must be ≥ 0 and finite (0 disables clipping), got {self.grad_clip!r}",
        )


@dataclass(kw_only=True, slots=True, frozen=True)
class CheckpointConfig:
    """`[train.checkpoint]`: when to save, and how many to keep."""

    every: int = 50
    """Save every this many optimizer steps (and always at the end)."""
    keep: int = 2
    """Keep the newest this many checkpoints; older ones are deleted after a new one is in place."""

    def __post_init__(self) -> None:
        check(whole(self.every, 1), "train.checkpoint.every", f"must be an integer ≥ 1, got {self.every!r}")
        check(whole(self.keep, 1), "train.checkpoint.keep", f"must be an integer ≥ 1, got {self.keep!r}")


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
    """Micro-batches per rank in each validation pass; a val split holding fewer is scored whole, each window once."""
    system_metrics: bool = True
    """Let MLflow sample CPU/GPU/memory use (needs psutil; silently off without it)."""
    sample_prompts: tuple[str, ...] = ("The", "In the beginning", "Once upon a time")
    """Fixed prompts whose continuations are logged as an MLflow table at the end of training."""
    sample_tokens: int = 32
    """New tokens per sample (0 logs no samples; at most SAMPLE_TOKENS_MAX)."""

    def __post_init__(self) -> None:
        check(whole(self.log_every, 1), "train.tracking.log_every", f"must be an integer ≥ 1, got {self.log_every!r}")
        check(
            whole(self.eval_every, 0),
            "train.tracking.eval_every",
            f"must be an integer ≥ 0 (0 disables), got {self.eval_every!r}",
        )
        check(
            whole(self.eval_batches, 1),
            "train.tracking.eval_batches",
            f"must be an integer ≥ 1, got {self.eval_batches!r}",
        )
        check(
            whole(self.sample_tokens, 0, SAMPLE_TOKENS_MAX),
            "train.tracking.sample_tokens",
            f"must be an integer in [0, {SAMPLE_TOKENS_MAX}] (0 logs no samples), got {self.sample_tokens!r}",
        )
        # MLflow refuses only "": "   " became an experiment of its own, shown as a blank name in the UI.
        check(
            isinstance(self.experiment, str) and bool(self.experiment.strip()),
            "train.tracking.experiment",
            f"must be a name that is not empty or only spaces, got {self.experiment!r}",
        )


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
        check(whole(self.max_steps, 1), "train.max_steps", f"must be an integer ≥ 1, got {self.max_steps!r}")
        check(whole(self.grad_accum, 1), "train.grad_accum", f"must be an integer ≥ 1, got {self.grad_accum!r}")
        # numpy's generators take no negative seed, and torch.manual_seed none past 2^64 (ranks add their index)
        check(whole(self.seed, 0, (1 << 63) - 1), "train.seed", f"must be an integer in [0, 2^63), got {self.seed!r}")
        ctx = self.model.context_length
        check(
            ctx is None or self.data.seq_len <= ctx,
            "train.data.seq_len",
            f"{self.data.seq_len} exceeds the model's context (model.gpt.block_size = {ctx})",
        )

    def warnings(self) -> list[str]:
        """Settings that are valid but likely not what was meant; the trainer logs them when a run starts."""
        out = []
        if self.optim.warmup_steps >= self.max_steps:
            # lr_factor reaches 1 at step index `warmup_steps`; the last step a run applies has index max_steps - 1
            out.append(
                f"train.optim.warmup_steps ({self.optim.warmup_steps}) ≥ train.max_steps ({self.max_steps}): the "
                f"learning rate never reaches its peak train.optim.lr ({self.optim.lr}); it ends at "
                f"{self.optim.lr * self.max_steps / (self.optim.warmup_steps + 1):.3g}. Lower warmup_steps (GPT-3 warms "
                "up over a small fraction of the run) unless a run shorter than its warmup is meant"
            )
        return out

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step on one rank (multiply by the world size for the global count)."""
        return self.data.batch_size * self.data.seq_len * self.grad_accum


def load_train_config(path: str | Path) -> TrainConfig:
    """The `[train]` section of an lmforge config file (TOML, YAML or JSON; the other sections are checked too, and
    ignored here), or a file holding only that section's fields (a run folder's config.json).

    Which of the two a file is goes by its top-level keys: a run config's sections (`train`, `tokenizer`, …, or a
    dotted `train.max_steps`), or TrainConfig's fields. A run config without a `[train]` section trains the defaults,
    as `lmforge run` reads it; a file whose keys are neither is refused, naming both."""
    import dataclasses
    import difflib

    from lmforge.pipeline.config import LmforgeConfig, load_config

    data = read_config_file(path)
    heads = {k.split(".", 1)[0] if isinstance(k, str) else k for k in data}
    sections = {f.name for f in dataclasses.fields(LmforgeConfig)}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if heads & sections:
        return load_config(path).train
    if heads and not heads & fields:
        close = [m for k in sorted(map(str, heads)) for m in difflib.get_close_matches(k, sections | fields, n=1)]
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ConfigError(
            f"{path}: neither a run config (sections {', '.join(sorted(sections))}, training reads `train`) nor a "
            f"train table (fields {', '.join(sorted(fields))}): its keys are {sorted(map(str, heads))}{hint}"
        )
    # A YAML `train.max_steps: 5` is the section's field written dotted, not a bare field named "train.max_steps".
    return from_dict(TrainConfig, expand_dotted(data, TrainConfig, f"{path}"), where=f"{path}")
