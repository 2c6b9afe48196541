"""The trained model as an MLflow pyfunc: weights, train config and tokenizer packaged together, with a signature.

`mlflow.pyfunc.load_model("models:/lmforge@champion").predict(["Once upon a time"], params={"greedy": True})`
returns one generated continuation per prompt. The package holds three artifacts:

  model.pt         the model's state dict (weights only, no optimizer)
  model.json       {"train_config": …, "vocab_size": N, "tokenizer_sha256": …} — enough to rebuild the module
  tokenizer.model  the sentencepiece model the weights were trained with

The Python class is pickled by reference, so the environment that loads the model must have lmforge installed
(`pip install lmforge`, or the same editable checkout); torch and sentencepiece come with it. The declared pip
requirements name the exact versions used at registration.
"""

from __future__ import annotations

import json
import logging
import numbers
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from lmforge.pipeline.configuring import INT64_MAX, from_dict
from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.errors import ConfigError, InputError, IntegrityError, NotFoundError
from lmforge.pipeline.train.checkpoint import (
    META,
    list_checkpoints,
    load_file,
    load_state,
    read_meta,
    recorded_sha256,
)
from lmforge.pipeline.train.config import SAMPLE_TOKENS_MAX

log = logging.getLogger(__name__)

WEIGHTS, INFO, TOKENIZER = "model.pt", "model.json", "tokenizer.model"
ARTIFACT_KEYS = {"weights": WEIGHTS, "info": INFO, "tokenizer": TOKENIZER}

#: Sampling parameters `predict` accepts, with their defaults: (MLflow type, default). top_k 0 and seed -1 mean "off".
PARAMS: dict[str, tuple[str, Any]] = {
    "max_new_tokens": ("long", 64),
    "temperature": ("double", 1.0),
    "top_k": ("long", 0),
    "top_p": ("double", 1.0),
    "greedy": ("boolean", False),
    "seed": ("long", -1),
    "repetition_penalty": ("double", 1.0),
}


MAX_NEW_TOKENS = SAMPLE_TOKENS_MAX
"""The most new tokens one `predict` generates per prompt (train.config.SAMPLE_TOKENS_MAX, 4096: 16 contexts of the
default GPT). Generation slides its window past the context, so nothing else bounds it: 10**12 held a serving
worker (and its lock on the model) for good, one token at a time."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """A packaged model ready to generate: the module (eval mode), its tokenizer and the package's model.json."""

    model: torch.nn.Module
    sp: Any
    info: dict[str, Any]


def checkpoint_of(run_dir: Path) -> Path:
    """The newest finished checkpoint of a run folder (or the checkpoint folder itself)."""
    run_dir = Path(run_dir)
    if (run_dir / META).is_file():
        return run_dir
    found = list_checkpoints(run_dir)
    if not found:
        raise NotFoundError(
            f"{run_dir}: no finished checkpoint (checkpoints/step-*/{META}); train the run first, "
            "or resume it so it writes one"
        )
    return found[-1]


def stage_artifacts(checkpoint: Path, tokenizer_model: Path, dest: Path) -> dict[str, str]:
    """Write the three artifacts into `dest` from a checkpoint folder; returns MLflow's `artifacts` mapping."""
    meta = read_meta(checkpoint)
    if not Path(tokenizer_model).is_file():
        raise NotFoundError(f"{tokenizer_model}: tokenizer of {checkpoint} not found; it is packaged with the model")
    dest.mkdir(parents=True, exist_ok=True)
    state = load_file(checkpoint / "model.pt", sha256=recorded_sha256(meta, "model.pt"))  # no bit rot in the registry
    torch.save(state, dest / WEIGHTS)
    shutil.copyfile(tokenizer_model, dest / TOKENIZER)
    info = {
        "train_config": meta["config"],
        "vocab_size": int(meta["vocab_size"]),
        "model_kind": meta.get("model_kind"),
        "step": meta.get("step"),
        "tokenizer_id": meta.get("tokenizer_id"),
        "tokenizer_sha256": sha256_file(dest / TOKENIZER),
    }
    (dest / INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {key: str(dest / name) for key, name in ARTIFACT_KEYS.items()}


def package_sha256(artifacts: dict[str, str]) -> str:
    """JSON {artifact key: sha256} of a staged package, recorded at registration: `lineage --verify` re-hashes the
    files MLflow serves against it."""
    return json.dumps({key: sha256_file(path) for key, path in sorted(artifacts.items())}, sort_keys=True)


def load_packaged(artifacts: dict[str, str], device: str = "cpu") -> Loaded:
    """Rebuild the model from the packaged artifacts (the same code path MLflow's `load_context` takes)."""
    import sentencepiece as spm

    from lmforge.pipeline.train.config import TrainConfig
    from lmforge.pipeline.train.models import build_model

    info = json.loads(Path(artifacts["info"]).read_text(encoding="utf-8"))
    config = from_dict(TrainConfig, info["train_config"], where=artifacts["info"])
    if sha256_file(artifacts["tokenizer"]) != info["tokenizer_sha256"]:
        raise IntegrityError(f"{artifacts['tokenizer']}: tokenizer does not match the one the model was packaged with")
    model = build_model(config.model, int(info["vocab_size"]))
    weights = Path(artifacts["weights"])
    load_state(model, load_file(weights), weights, f"the package does not match its {INFO}; register the run again")
    model.to(device).eval()
    return Loaded(model, spm.SentencePieceProcessor(model_file=artifacts["tokenizer"]), info)


def prompts_of(model_input: Any) -> list[str]:
    """A DataFrame (its `prompt` column, else its first), a list/array/Series of strings, a dict or one string.

    An empty batch (`[]`, a frame without rows or without columns) is no prompts, not an error. A missing value
    (None, NaN: a frame's empty cell) is the empty prompt; anything else that is not text (a number, bytes, a nested
    list) is an InputError naming its position: turned into text with `str` it generated from "b'…'" or "['…']".
    So is an input that is no batch (None, a number, bytes, a set, whose order would not match the outputs'): it
    failed with Python's TypeError, or generated from each byte's number."""
    if isinstance(model_input, np.ndarray) and model_input.ndim == 0:
        model_input = model_input.reshape(1)  # np.array("The"): one prompt, which iterating raised a TypeError for
    if isinstance(model_input, str):
        return [str(model_input)]
    if isinstance(model_input, bytes | bytearray | set | frozenset) or not isinstance(model_input, Iterable):
        raise InputError(
            "model input",
            f"is {type(model_input).__name__} {str(model_input)[:40]!r}; give a string, a list of strings, or a "
            "DataFrame with a `prompt` column",
        )
    if isinstance(model_input, dict):  # {"prompt": "one"} is one row; {"prompt": ["a", "b"]} is a column
        nested = next((k for k, v in model_input.items() if isinstance(v, Mapping)), None)
        if nested is not None:  # pandas made {"a": {"prompt": "x"}} a column `a` indexed by "prompt": "x" was generated
            raise InputError(
                "model input",
                f"is a dict whose value for {str(nested)[:40]!r} is a dict; give {{'prompt': [...]}}, a list of "
                "strings, or a DataFrame with a `prompt` column",
            )
        scalars = all(isinstance(v, str) or not hasattr(v, "__len__") for v in model_input.values())
        try:
            model_input = pd.DataFrame([model_input] if scalars else model_input)
        except ValueError as exc:  # columns of different lengths
            raise InputError("model input", f"is a dict pandas cannot make a table of ({exc})") from exc
    if isinstance(model_input, pd.DataFrame):
        if model_input.shape[1] == 0:
            return []
        column = "prompt" if "prompt" in model_input.columns else model_input.columns[0]
        model_input = model_input[column]
        if isinstance(model_input, pd.DataFrame):  # columns named alike (a concat): iterated, it gave their names
            raise InputError(
                "model input",
                f"has {model_input.shape[1]} columns named {str(column)[:40]!r}; give the prompts in one column",
            )
    return [_prompt(value, k) for k, value in enumerate(list(model_input))]


def _prompt(value: Any, position: int) -> str:
    if isinstance(value, str):
        return str(value)  # np.str_ too, as a plain str
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    raise InputError(
        "model input",
        f"prompt {position} is {type(value).__name__} {str(value)[:40]!r}, not text; give each prompt as a string",
    )


def sampling_options(params: dict[str, Any] | None) -> dict[str, Any]:
    """MLflow params (with the signature's defaults) → `generate` keywords; the "off" sentinels become None.

    Each param is checked against its declared type here, not only by MLflow: the unwrapped Python model (and a
    caller of `predict` that bypasses the signature) got no check, and `bool("false")` sampled greedily, `int("7")`
    passed, a misspelt name was ignored. Ranges `generate` checks itself; the seed's is checked here, since torch
    took 2**70 with an "Overflow when unpacking long long" and a seed below -1 silently meant "no seed"."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(PARAMS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a sampling param of this model; known: {', '.join(sorted(PARAMS))}")
    merged = {name: default for name, (_, default) in PARAMS.items()} | given
    for name, value in given.items():
        _check_type(name, PARAMS[name][0], value)
    if int(merged["max_new_tokens"]) > MAX_NEW_TOKENS:
        raise ConfigError(
            f"max_new_tokens: must be at most {MAX_NEW_TOKENS} (MAX_NEW_TOKENS), got {merged['max_new_tokens']}; "
            "generate in several calls, each continuing the last"
        )
    seed = int(merged["seed"])
    if not -1 <= seed <= INT64_MAX:
        raise ConfigError(f"seed: must be -1 (no seed) or an integer in [0, {INT64_MAX}], got {seed}")
    return {
        "max_new_tokens": int(merged["max_new_tokens"]),
        "temperature": float(merged["temperature"]),
        "top_k": int(merged["top_k"]) or None,
        "top_p": float(merged["top_p"]),
        "greedy": bool(merged["greedy"]),
        "seed": None if seed == -1 else seed,
        "repetition_penalty": float(merged["repetition_penalty"]),
    }


def _check_type(name: str, dtype: str, value: Any) -> None:
    """A ConfigError naming the param unless `value` is of its MLflow type; numpy scalars count, bools are not
    numbers (MLflow refuses `True` for a long too)."""
    ok = {
        "long": isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_),
        "double": isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_),
        "boolean": isinstance(value, bool | np.bool_),
    }[dtype]
    if not ok:
        kind = {"long": "an integer", "double": "a number", "boolean": "true or false"}[dtype]
        raise ConfigError(f"{name}: must be {kind}, got {type(value).__name__} {value!r}")


def generate_all(loaded: Loaded, prompts: list[str], opts: dict[str, Any]) -> list[str]:
    from lmforge.pipeline.train.sample import generate_text

    return [generate_text(loaded.model, loaded.sp, prompt, **opts) for prompt in prompts]


class LmforgeLanguageModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: prompts in, generated continuations out (one string per prompt)."""

    def load_context(self, context: Any) -> None:
        self.loaded = load_packaged(dict(context.artifacts))

    # The signature declares no input schema (see `signature`), so MLflow hands `model_input` over as given: a list,
    # a frame, a dict or one string, which `prompts_of` takes apart and checks. The `pd.DataFrame` hint is one MLflow
    # derives no second signature from, and it keeps MLflow from warning at every load that `predict` has no hints.
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> list[str]:
        return generate_all(self.loaded, prompts_of(model_input), sampling_options(params))


def signature() -> Any:
    """No input schema; output: one string per prompt; params: the sampling options.

    The input is not declared as a string column because MLflow's column check runs before `predict` and refuses an
    empty batch: `[]` has no column ("missing inputs") and an empty frame's column is float64 ("Can not safely
    convert float64"). `prompts_of` checks the prompts instead, and an empty batch gives an empty list."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=None,
        outputs=Schema([ColSpec("string")]),
        params=ParamSchema([ParamSpec(name, dtype, default) for name, (dtype, default) in PARAMS.items()]),
    )


def pip_requirements() -> list[str]:
    """Exact versions of what the loading environment needs; lmforge itself must be installed there too."""
    from importlib.metadata import version

    from lmforge import __version__

    return [
        f"lmforge=={__version__}",
        f"torch=={version('torch').split('+')[0]}",
        f"sentencepiece=={version('sentencepiece')}",
        f"mlflow=={version('mlflow')}",
    ]


def smoke_check(artifacts: dict[str, str], tokens: int) -> None:
    """Load the staged package and generate a few greedy tokens, so a broken package is never logged."""
    if tokens <= 0:
        return
    loaded = load_packaged(artifacts)
    generate_all(loaded, [""], sampling_options({"max_new_tokens": tokens, "greedy": True}))
    log.info("packaged model loads and generates (%d tokens, %s)", tokens, loaded.info.get("model_kind"))
