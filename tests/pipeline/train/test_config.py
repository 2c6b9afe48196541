"""The `[train]` config: a nonsense value is a ConfigError that names its field."""

from __future__ import annotations

import re

import pytest

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.config import (
    SAMPLE_TOKENS_MAX,
    DataConfig,
    OptimConfig,
    TrackingConfig,
    TrainConfig,
)
from lmforge.pipeline.train.models import GPTConfig


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"seed": -1}, "train.seed"),  # numpy's default_rng([seed, epoch]) in the loader rejects it
        ({"seed": 2**64}, "train.seed"),  # torch.manual_seed overflows
        ({"optim": {"beta2": 1.0}}, "train.optim.beta2"),
        ({"optim": {"beta1": -0.1}}, "train.optim.beta1"),
        ({"optim": {"lr": float("inf")}}, "train.optim.lr"),
        ({"optim": {"lr": float("nan")}}, "train.optim.lr"),
        ({"data": {"batch_size": 0}}, "train.data.batch_size"),
        ({"data": {"seq_len": 512}}, "train.data.seq_len"),
        ({"data": {"batch_size": "8"}}, "train.data.batch_size"),
        ({"data": {"bacth_size": 8}}, "bacth_size"),
    ],
)
def test_bad_values_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        from_dict(TrainConfig, data, where="train")


def test_edge_seeds_are_valid() -> None:
    assert from_dict(TrainConfig, {"seed": 0}).seed == 0
    assert from_dict(TrainConfig, {"seed": 2**63 - 1}).seed == 2**63 - 1


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("data", "field", "allowed"),
    [
        *(({"optim": {"eps": v}}, "train.optim.eps", "positive and finite") for v in (INF, NAN, 0.0, -1e-8)),
        *(
            ({"model": {"gpt": {"rope_base": v}}}, "model.gpt.rope_base", r"finite number > 1")
            for v in (INF, NAN, 0.0, -10000.0, 1.0)
        ),
        *(
            ({"tracking": {"sample_tokens": v}}, "train.tracking.sample_tokens", r"in \[0, 4096\]")
            for v in (10**9, 4097, -1)
        ),
        ({"optim": {"grad_clip": INF}}, "train.optim.grad_clip", "finite"),
        ({"optim": {"grad_clip": NAN}}, "train.optim.grad_clip", "finite"),
        ({"optim": {"min_lr_ratio": NAN}}, "train.optim.min_lr_ratio", r"\[0, 1\]"),
        ({"optim": {"weight_decay": NAN}}, "train.optim.weight_decay", "finite"),
        ({"optim": {"beta1": NAN}}, "train.optim.beta1", r"\[0, 1\)"),
        ({"optim": {"lr": -INF}}, "train.optim.lr", "positive"),
        ({"optim": {"warmup_steps": -1}}, "train.optim.warmup_steps", "≥ 0"),
        ({"model": {"gpt": {"dropout": NAN}}}, "model.gpt.dropout", r"\[0, 1\)"),
        ({"model": {"lstm": {"dropout": INF}}}, "model.lstm.dropout", r"\[0, 1\)"),
        ({"tracking": {"eval_every": -1}}, "train.tracking.eval_every", "≥ 0"),
        ({"checkpoint": {"keep": 0}}, "train.checkpoint.keep", "≥ 1"),
        ({"max_steps": True}, "train.max_steps", "expected int"),  # TOML's `true` is no count
    ],
)
def test_non_finite_zero_and_out_of_range_numbers_name_the_key_and_the_range(data: dict, field: str, allowed: str):
    """eps and rope_base took inf (AdamW then never moves a weight; RoPE tables turn NaN) and sample_tokens any size
    (each sample then decodes for hours at the end of the run)."""
    with pytest.raises(ConfigError, match=re.escape(field) + ".*" + allowed):
        from_dict(TrainConfig, data, where="train")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: DataConfig(batch_size=True), "train.data.batch_size"),
        (lambda: TrainConfig(grad_accum=True), "train.grad_accum"),
        (lambda: TrackingConfig(eval_batches=True), "train.tracking.eval_batches"),
        (lambda: OptimConfig(eps=True), "train.optim.eps"),
        (lambda: GPTConfig(n_layer=True), "model.gpt.n_layer"),
        (lambda: TrainConfig(seed=1.5), "train.seed"),
    ],
)
def test_a_config_built_in_python_refuses_bools_for_numbers(build, field: str) -> None:
    """from_dict refuses a TOML bool for an int field; `DataConfig(batch_size=True)` passed `True >= 1`."""
    with pytest.raises(ConfigError, match=re.escape(field)):
        build()


def test_edge_values_are_valid() -> None:
    config = from_dict(
        TrainConfig,
        {"tracking": {"sample_tokens": SAMPLE_TOKENS_MAX}, "optim": {"eps": 1e-30, "grad_clip": 0.0}},
    )
    assert config.tracking.sample_tokens == SAMPLE_TOKENS_MAX and config.optim.grad_clip == 0.0
    assert from_dict(TrainConfig, {"model": {"gpt": {"rope_base": 500000}}}).model.gpt.rope_base == 500000.0


def test_warmup_past_the_run_is_accepted_with_a_warning() -> None:
    """warmup_steps ≥ max_steps was accepted silently, and the lr never reached its peak."""
    assert from_dict(TrainConfig, {"max_steps": 10, "optim": {"warmup_steps": 9}}).warnings() == []
    config = from_dict(TrainConfig, {"max_steps": 10, "optim": {"lr": 1e-3, "warmup_steps": 10}})
    (warning,) = config.warnings()
    assert "train.optim.warmup_steps (10) ≥ train.max_steps (10)" in warning and "ends at 0.000909" in warning
