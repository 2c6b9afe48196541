"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import click

DEFAULT_WORKSPACE = "workspace"

#: The stages of `lmforge run`, in order: `flows.run.STAGES`, which imports Prefect. `run` and `backfill` check
#: `--stages` against this copy before the workspace exists, since Prefect makes its home there when first imported
#: (tests/flows/commands/test_hunt15.py checks the two agree).
RUN_STAGES: tuple[str, ...] = ("curate", "tokenizer", "shards", "train", "evaluate", "register")


class _WorkspacePath(click.Path):
    """A folder path that is not empty: `--workspace "$WS"` with WS unset was the current folder (Path("") is "."),
    which then got snapshots/, mlflow.db and a Prefect home scattered into it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("empty path; give a folder (is a variable unset?)", param, ctx)
        return super().convert(value, param, ctx)


def _workspace_callback(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """Point Prefect and MLflow at the workspace, making nothing: the option is eager, so this runs before the other
    arguments are checked, and a usage error (a missing INPUT, `--nproc 0`, `--workspace W --help`) left an empty W
    with a Prefect home in it. The command makes it with `ensure_workspace` once its arguments have passed."""
    from lmforge.flows import env

    if value.exists() and not value.is_dir():
        raise click.BadParameter(f"{value} exists and is not a folder")
    env.configure(value)
    return value


def _existing_folder_callback(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """A workspace that is there (or a file in the way, refused): set up as it is, Prefect's home included."""
    from lmforge.flows import env

    if not value.is_dir():
        raise click.BadParameter(f"{value} exists and is not a folder")
    env.configure(value, create=True)
    return value


def user_tracking_uri() -> str | None:
    """MLFLOW_TRACKING_URI when the user set it (a server), not when a workspace's SQLite default filled it in."""
    from lmforge.flows import env

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    return uri if uri and uri != env._WORKSPACE_DEFAULTS.get("MLFLOW_TRACKING_URI") else None


def missing_workspace(value: Path) -> Exception:
    from lmforge.pipeline.errors import ConfigError

    return ConfigError(
        f"{value}: no such workspace folder; this command reads what earlier stages wrote there "
        "(check --workspace or LMFORGE_WORKSPACE)"
    )


def _existing_workspace(remote_ok: bool):
    """For commands that read what earlier stages wrote: a workspace that is not there is a typo (or the wrong
    LMFORGE_WORKSPACE), said as such, not an empty one made on the spot and a "not found" about its content.
    `remote_ok`: the command can also work from an MLflow server the user set, with no workspace folder."""

    def callback(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
        if value.is_dir() or value.exists():  # a file is refused there as "not a folder"
            return _existing_folder_callback(ctx, param, value)
        if remote_ok and user_tracking_uri():
            from lmforge.flows import env

            env.configure(value)  # without create: nothing is made
            return value
        raise missing_workspace(value)

    return callback


def _workspace_opt(callback, help: str):  # noqa: A002 - click's own name for it
    """The `--workspace` option (LMFORGE_WORKSPACE, else ./workspace) with the callback that sets it up."""
    return click.option(
        "--workspace",
        type=_WorkspacePath(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("LMFORGE_WORKSPACE") or DEFAULT_WORKSPACE,
        show_default="workspace",
        callback=callback,
        is_eager=True,
        help=help,
    )


workspace_option = _workspace_opt(
    _workspace_callback,
    "Folder that holds every stage output (and, without servers, Prefect's and MLflow's stores).",
)
"""`--workspace` of a command that writes there: the command calls `ensure_workspace` after its own checks."""


def reading_workspace_option(remote_ok: bool = False):
    """`--workspace` of a command that reads earlier stages' outputs: the folder must exist (see `_existing_workspace`)."""
    return _workspace_opt(_existing_workspace(remote_ok), "Folder that holds the stage outputs this command reads.")


def _lazy_workspace(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """A workspace that is there is set up as usual; one that is not is neither made nor refused yet: the command
    may read its inputs from folders elsewhere (`--snapshot other/snapshots/ID`). `find_stage_in` turns an id that
    cannot be found in a missing workspace into "no such workspace folder", and `ensure_workspace` makes it once the
    inputs are resolved, for a command that writes there."""
    if value.exists():  # a file is refused there as "not a folder"
        return _existing_folder_callback(ctx, param, value)
    from lmforge.flows import env

    env.configure(value)  # without create: nothing is made
    return value


def lazy_workspace_option(help: str):  # noqa: A002 - click's own name for it
    """`--workspace` of a command that reads stages from it, which may also be given as folders (see
    `_lazy_workspace`): a mistyped workspace is said as such, and no empty one is made on the way."""
    return _workspace_opt(_lazy_workspace, help)


def find_stage_in(workspace: Path, kind: str, id_or_path: str) -> Path:
    """`find_stage`, where an id looked up in a workspace folder that does not exist is reported as that typo."""
    from lmforge.pipeline.errors import NotFoundError
    from lmforge.pipeline.stage import find_stage

    try:
        return find_stage(workspace, kind, id_or_path)
    except NotFoundError:
        if not Path(workspace).exists():
            raise missing_workspace(Path(workspace)) from None
        raise


def ensure_workspace(workspace: Path) -> None:
    """Make the workspace (and Prefect's home in it) before a command writes there; a read-only one is refused."""
    from lmforge.flows import env

    env.configure(workspace, create=True)


class FiniteFloatRange(click.FloatRange):
    """`click.FloatRange` that also refuses nan and inf: click's range check compares, and NaN passes every
    comparison's negation, so `--corpus-mb nan` got through to the flow and failed only after Prefect had started."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{rv} is not a finite number.", param, ctx)
        return rv


def task_runner_options(f):
    f = click.option(
        "--workers", type=click.IntRange(min=1), default=None, help="Parallel workers for the task runner."
    )(f)
    f = click.option(
        "--task-runner",
        type=click.Choice(["thread", "dask"]),
        default="thread",
        show_default=True,
        help="Prefect task runner: threads in this process, or a local Dask cluster of processes.",
    )(f)
    return f


def build_task_runner(kind: str, workers: int | None):
    if kind == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:
            from lmforge.pipeline.errors import ConfigError

            raise ConfigError("--task-runner dask needs the 'dask' extra: pip install 'lmforge[dask]'") from exc
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers or os.cpu_count() or 1, "threads_per_worker": 1, "processes": True}
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=workers or min(4, os.cpu_count() or 1))


def run_flow(flow_fn, task_runner: str, workers: int | None, **params: Any) -> Any:
    return flow_fn.with_options(task_runner=build_task_runner(task_runner, workers))(**params)


def print_json_summary(result: dict[str, Any]) -> None:
    """With LMFORGE_JSON=1, also print the result as one JSON line (for scripts)."""
    if os.environ.get("LMFORGE_JSON") == "1":
        click.echo(json.dumps(result, sort_keys=True, default=str))


def warn(message: str) -> None:
    """A warning for the user, on stderr, in the form `lmforge: error: …` has."""
    click.echo(f"lmforge: warning: {message}", err=True)


def warn_train_config(train_config: Any) -> None:
    """Print `TrainConfig.warnings()` before torchrun is launched: the trainer logs them too, but only on rank 0 and
    inside the workers' stream, after the launch; a run shorter than its warmup should be seen before it starts."""
    for message in train_config.warnings():
        warn(message)
