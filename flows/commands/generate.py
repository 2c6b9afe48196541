"""`lmforge generate`: continue a prompt with a trained checkpoint or a registered MLflow model."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

from lmforge.flows.commands.common import DEFAULT_WORKSPACE
from lmforge.pipeline.configuring import INT64_MAX
from lmforge.pipeline.errors import LmforgeError, NotFoundError
from lmforge.pipeline.train.config import SAMPLE_TOKENS_MAX

#: `models:/name@alias`, `runs:/id/path`, `mlflow-artifacts:/…`, `s3://…`: a URI scheme of two or more letters
#: (one letter would be a Windows drive).
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def is_model_uri(target: str) -> bool:
    return bool(_URI.match(target))


def from_checkpoint(path: str, prompt: str, device: str, opts: dict[str, Any]) -> str:
    """Load a checkpoint (file, checkpoint folder or run folder) with its tokenizer and sample from it."""
    if not Path(path).exists():
        raise NotFoundError(
            f"{path}: no such checkpoint file or folder (give a run folder, a checkpoint folder "
            "under <run>/checkpoints/, or an MLflow URI such as models:/NAME@ALIAS)"
        )
    import sentencepiece as spm

    from lmforge.pipeline.train.checkpoint import load_for_inference
    from lmforge.pipeline.train.sample import generate_text

    model, _config, tokenizer = load_for_inference(Path(path), device=device)
    if not Path(tokenizer).is_file():
        raise NotFoundError(
            f"{tokenizer}: the checkpoint's tokenizer model is missing; restore the tokenizers "
            "folder of the workspace it was trained in"
        )
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    return generate_text(model, sp, prompt, **opts)


def from_mlflow(uri: str, prompt: str, workspace: Path, opts: dict[str, Any]) -> str:
    """Load a registered pyfunc model and call predict on a one-row DataFrame with a `prompt` column; the
    sampling options travel as predict `params` named like `generate`'s keywords."""
    from lmforge.flows import env
    from lmforge.flows.commands.common import missing_workspace, user_tracking_uri

    if not Path(workspace).is_dir() and not user_tracking_uri():  # else MLflow makes an empty store there
        raise missing_workspace(Path(workspace))
    env.configure(workspace)  # the workspace's SQLite store unless MLFLOW_TRACKING_URI points at a server
    import pandas as pd

    from lmforge.pipeline.registry.registry import check_reachable, load_pyfunc

    # A dead server is one line now, not minutes of MLflow's retries and then "check the model name".
    check_reachable(os.environ.get("MLFLOW_TRACKING_URI") or "")
    try:
        model = load_pyfunc(uri, workspace)
    except Exception as exc:  # MlflowException, OSError, missing flavor…: one clear line for the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NotFoundError(
            f"MLflow could not load {uri!r} from {os.environ.get('MLFLOW_TRACKING_URI')}: {reason}. "
            "Check the model name and alias (or run id), and --workspace / MLFLOW_TRACKING_URI"
        ) from exc
    params = {k: v for k, v in opts.items() if v is not None}
    out = model.predict(pd.DataFrame({"prompt": [prompt]}), params=params)
    if isinstance(out, pd.DataFrame):
        out = out.iloc[:, 0]
    if isinstance(out, pd.Series):
        out = out.tolist()
    if isinstance(out, list | tuple):
        out = out[0] if out else ""
    if not isinstance(out, str):
        raise LmforgeError(f"{uri}: the model's predict returned {type(out).__name__}, not generated text")
    return out


@click.command("generate")
@click.argument("target", metavar="CHECKPOINT_OR_MODEL")
@click.option("--prompt", default="", help="Text to continue (empty: start a new document).")
# The ranges are sampling's own (`sample._check_options`), checked here too so a typo fails before a model loads.
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=0, max=SAMPLE_TOKENS_MAX),
    default=64,
    show_default=True,
    help=f"Most tokens to add (at most {SAMPLE_TOKENS_MAX}).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Softmax temperature; 0 is greedy.",
)
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Sample among the K most likely tokens.")
@click.option(
    "--top-p",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=None,
    help="Nucleus sampling: the smallest set with mass P.",
)
@click.option(
    "--repetition-penalty",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="CTRL penalty; 1 is off.",
)
@click.option("--greedy", is_flag=True, help="Always take the most likely token.")
@click.option("--seed", type=click.IntRange(min=0, max=INT64_MAX), default=None, help="Seed for reproducible sampling.")
@click.option("--device", default="cpu", show_default=True, help="torch device for checkpoints (cpu, cuda, cuda:1).")
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("LMFORGE_WORKSPACE", DEFAULT_WORKSPACE),
    show_default="workspace",
    help="Workspace whose MLflow store resolves models:/ and runs:/ URIs.",
)
def command(
    target, prompt, max_new_tokens, temperature, top_k, top_p, repetition_penalty, greedy, seed, device, workspace
) -> None:
    """Continue --prompt with CHECKPOINT_OR_MODEL: a checkpoint (run folder, checkpoint folder or a file in one),
    or an MLflow model URI such as models:/NAME@ALIAS or runs:/RUN_ID/model. Prints prompt + continuation."""
    opts = {
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "repetition_penalty": repetition_penalty,
        "greedy": greedy,
        "seed": seed,
    }
    ignored = [
        name
        for name, value, default in (
            ("--temperature", temperature, 1.0),
            ("--top-k", top_k, None),
            ("--top-p", top_p, None),
            ("--seed", seed, None),
        )
        if value != default
    ]
    if greedy and ignored:  # greedy decoding draws nothing: these would change nothing, and the user meant something
        from lmforge.flows.commands.common import warn

        warn(f"--greedy takes the most likely token: {', '.join(ignored)} ignored")
    if is_model_uri(target):
        text = from_mlflow(target, prompt, workspace, opts)
    else:
        text = from_checkpoint(target, prompt, device, opts)
    click.echo(prompt + text)
