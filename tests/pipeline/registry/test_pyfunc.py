"""The registered pyfunc model as a user calls it (`mlflow.pyfunc.load_model(...).predict`): empty batches, every
input shape MLflow hands over, prompts that are not text, prompts longer than the context, and max_new_tokens at
its edges. Real MLflow on the session's SQLite store, real sentencepiece and torch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmforge.pipeline.errors import ConfigError, InputError
from tests.pipeline.registry.conftest import NAME

GREEDY = {"greedy": True, "max_new_tokens": 3}


@pytest.fixture(scope="module")
def model(champion):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(f"models:/{NAME}/{champion[0].version}")


@pytest.mark.parametrize(
    "batch",
    [
        [],
        pd.DataFrame({"prompt": []}),  # float64: pandas' dtype for an empty column
        pd.DataFrame({"prompt": pd.Series([], dtype=object)}),
        pd.DataFrame(),
        np.array([], dtype=str),
    ],
    ids=["list", "frame-float64", "frame-object", "frame-no-columns", "array"],
)
def test_an_empty_batch_gives_an_empty_list(model, batch) -> None:
    """MLflow's schema check refused `[]` ("missing inputs") and an empty frame ("float64 to <U0") before `predict`
    ran."""
    assert model.predict(batch, params=GREEDY) == []


@pytest.mark.parametrize(
    ("batch", "rows"),
    [
        ({"prompt": "The"}, 1),
        ({"prompt": ["The", "A"]}, 2),
        ("The", 1),
        (["The", None], 2),
        (pd.DataFrame({"x": ["The"], "prompt": ["A"]}), 1),
    ],
    ids=["dict-scalar", "dict-column", "string", "list-with-none", "frame-prompt-column"],
)
def test_each_input_shape_gives_one_continuation_per_prompt(model, batch, rows: int) -> None:
    out = model.predict(batch, params=GREEDY)
    assert isinstance(out, list) and len(out) == rows and all(isinstance(s, str) for s in out)
    if isinstance(batch, pd.DataFrame):  # the `prompt` column is used, not the first
        assert out == model.predict(["A"], params=GREEDY)


@pytest.mark.parametrize(
    ("batch", "kind"),
    [([b"The"], "bytes"), ([["The"]], "list"), (["The", 7], "int"), (pd.DataFrame({"prompt": [1.5]}), "float")],
)
def test_a_prompt_that_is_not_text_is_refused_with_its_position(model, batch, kind: str) -> None:
    """Bytes and nested lists passed MLflow's string check (object dtype) and were generated from "b'The'" and
    "['The']"."""
    position = len(batch) - 1 if isinstance(batch, list) else 0
    with pytest.raises(InputError, match=rf"prompt {position} is {kind} .*not text"):
        model.predict(batch, params=GREEDY)


def test_a_frame_with_two_prompt_columns_is_refused_not_generated_from_their_names(model) -> None:
    """`pd.concat([a, b], axis=1)` of two prompt frames: the `prompt` column was itself a frame, and iterating it
    generated one continuation of the word "prompt" per column, whatever the prompts were."""
    twice = pd.concat([pd.DataFrame({"prompt": ["The"]}), pd.DataFrame({"prompt": ["A"]})], axis=1)
    with pytest.raises(InputError, match="has 2 columns named 'prompt'"):
        model.predict(twice, params=GREEDY)


def test_a_zero_dimensional_array_is_one_prompt(model) -> None:
    """`np.array("The")` died of numpy's "iteration over a 0-d array" TypeError inside `predict`."""
    assert model.predict(np.array("The"), params=GREEDY) == model.predict(["The"], params=GREEDY)


def test_max_new_tokens_zero_gives_empty_continuations_and_negative_is_refused(model) -> None:
    assert model.predict(["The", ""], params={"max_new_tokens": 0}) == ["", ""]
    with pytest.raises(ConfigError, match="max_new_tokens: must be ≥ 0"):
        model.predict(["The"], params={"max_new_tokens": -1})


def test_a_prompt_longer_than_the_context_still_generates(model) -> None:
    loaded = model.unwrap_python_model().loaded
    prompt = "The quick brown fox. " * (4 * loaded.model.block_size)
    assert len(loaded.sp.encode(prompt)) > loaded.model.block_size
    (out,) = model.predict([prompt], params=GREEDY)
    assert isinstance(out, str)
