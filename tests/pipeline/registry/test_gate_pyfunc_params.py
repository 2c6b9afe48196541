"""Sampling params of the registered pyfunc model out of range or of the wrong type, through MLflow's
`load_model(...).predict` and through the unwrapped Python model (MLflow's param check does not run there): a
ConfigError naming the param, never a torch or int() traceback, and never a silently different meaning. Real MLflow
on the session's SQLite store, real sentencepiece and torch."""

from __future__ import annotations

import pytest

from lmforge.pipeline.errors import ConfigError
from tests.pipeline.registry.conftest import NAME


@pytest.fixture(scope="module")
def model(champion):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(f"models:/{NAME}/{champion[0].version}")


@pytest.mark.parametrize("seed", [2**70, 2**63, -5])
def test_a_seed_out_of_range_is_refused_by_name(model, seed: int) -> None:
    """2**70 reached torch's `manual_seed` ("Overflow when unpacking long long"); -5 was taken as "no seed" like -1,
    so a caller asking for a reproducible sample got an unseeded one."""
    with pytest.raises(ConfigError, match=r"seed: must be -1 \(no seed\) or an integer in \[0, "):
        model.predict(["The"], params={"seed": seed, "max_new_tokens": 2})


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"seed": "7"}, "seed"),
        ({"max_new_tokens": 2.5}, "max_new_tokens"),
        ({"greedy": "false"}, "greedy"),  # bool("false") is True: it sampled greedily
        ({"top_k": True}, "top_k"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": 3}, "max_tokens"),  # a misspelt name was ignored: 64 tokens came back
    ],
)
def test_a_param_of_the_wrong_type_is_refused_without_mlflows_check(model, params, name: str) -> None:
    python_model = model.unwrap_python_model()
    with pytest.raises(ConfigError, match=rf"^{name}: "):
        python_model.predict(None, ["The"], params=params)


def test_in_range_params_still_generate_reproducibly(model) -> None:
    params = {"seed": 2**63 - 1, "max_new_tokens": 4, "top_k": 5, "top_p": 0.9, "temperature": 0.8}
    prompts = ["The", "A", ""] * 4
    first = model.predict(prompts, params=params)
    assert len(first) == len(prompts) and first == model.predict(prompts, params=params)
    assert first == model.unwrap_python_model().predict(None, prompts, params=params)
