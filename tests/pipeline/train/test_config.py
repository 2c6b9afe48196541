"""The `[train]` config: a nonsense value is a ConfigError that names its field."""

from __future__ import annotations

import pytest

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.config import TrainConfig


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
