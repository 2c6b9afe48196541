"""The `[registry]` config section: where a trained model is registered and how the promotion gate judges it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmforge.pipeline.configuring import check, whole
from lmforge.pipeline.train.config import SAMPLE_TOKENS_MAX

#: MLflow registered-model names used in `models:/<name>@<alias>` URIs; kept to a safe subset.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


@dataclass(kw_only=True, slots=True, frozen=True)
class RegistryConfig:
    """How `register` packages, evaluates and promotes a trained model."""

    model_name: str = "lmforge"
    """Registered model name in MLflow (`models:/<model_name>@champion`)."""
    eval_batch_size: int = 8
    """Windows per batch when the gate scores a model on validation shards."""
    eval_seq_len: int = 256
    """Window length for the gate's scoring (capped at each model's context length)."""
    eval_max_batches: int | None = None
    """Stop the gate's scoring after this many batches (None: the whole validation split, which a fair gate needs)."""
    min_improvement: float = 0.0
    """The candidate must beat the champion's val bits-per-byte by more than this to be promoted (0: any gain)."""
    smoke_tokens: int = 4
    """Tokens the packaged model generates as a load check before anything is logged (0 skips the check; at most
    SAMPLE_TOKENS_MAX, the most the packaged model generates for one prompt)."""

    def __post_init__(self) -> None:
        check(
            bool(_NAME.match(self.model_name)),
            "registry.model_name",
            f"{self.model_name!r} must start with a letter or digit and hold only letters, digits, '_', '.', '-'",
        )
        check(self.eval_batch_size >= 1, "registry.eval_batch_size", "must be at least 1")
        check(self.eval_seq_len >= 2, "registry.eval_seq_len", "must be at least 2")
        check(
            self.eval_max_batches is None or self.eval_max_batches >= 1,
            "registry.eval_max_batches",
            "must be at least 1 (or unset for the whole split)",
        )
        check(self.min_improvement >= 0.0, "registry.min_improvement", "must be ≥ 0")
        # past the bound, `register` failed only after the run was packaged and evaluated, minutes later
        check(
            whole(self.smoke_tokens, 0, SAMPLE_TOKENS_MAX),
            "registry.smoke_tokens",
            f"must be an integer in [0, {SAMPLE_TOKENS_MAX}] (0 skips the load check; the packaged model generates at "
            f"most {SAMPLE_TOKENS_MAX} tokens a prompt), got {self.smoke_tokens!r}",
        )
