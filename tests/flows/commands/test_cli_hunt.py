"""User mistakes with the commands after curation, as an ML engineer makes them from a shell: each is one line naming
what is wrong and what to do (exit 2), and nothing already built is lost or made on the way."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import click
import pytest

from lmforge.flows.cli import main
from lmforge.pipeline.errors import LmforgeError
from tests.flows.commands.test_model_commands import SHARDS_ID
from tests.flows.commands.test_model_commands import workspace as model_workspace  # noqa: F401 - a fixture
from tests.support.shards import make_shards


@pytest.fixture(autouse=True)
def _restore_environ(monkeypatch):
    """main() points Prefect/MLflow env vars at the workspace it is given; keep that to the test."""
    monkeypatch.setattr(os, "environ", os.environ.copy())


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def shards_ws(tmp_path: Path) -> Path:
    """A workspace with one tokenizer (tok0000000000000) and one shards folder (shards0000000000)."""
    ws = tmp_path / "ws"
    make_shards(ws)
    return ws


# -- a mistyped --workspace ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["tokenizer", "report", "abcd"],
        ["tokenizer", "train", "--snapshot", "abcd", "--no-prefect"],
        ["shards", "build", "--snapshot", "abcd", "--tokenizer", "ef01", "--no-prefect"],
        ["evaluate", "CHECKPOINT", "--shards", "abcd"],
        ["train", "--shards", "abcd"],
        ["register", "--run", "abcd"],
    ],
)
def test_a_reading_command_on_a_missing_workspace_names_it_and_makes_nothing(tmp_path: Path, capsys, args) -> None:
    """These commands made the mistyped folder (and a Prefect home in it), then said the id was not found in it."""
    typo = tmp_path / "wrokspace"
    args = [str(tmp_path) if a == "CHECKPOINT" else a for a in args]
    code, _, err = run([*args, "--workspace", str(typo)], capsys)
    assert code == 2, err
    assert f"{typo}: no such workspace folder" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not typo.exists()


def test_shards_inspect_with_no_workspace_reads_the_shards_own_and_makes_none(shards_ws: Path, tmp_path, capsys):
    """`shards inspect PATH` with the default ./workspace absent made an empty ./workspace/.prefect in the cwd."""
    absent = tmp_path / "workspace"
    code, out, err = run(
        ["shards", "inspect", str(shards_ws / "shards" / "shards0000000000"), "--workspace", str(absent)], capsys
    )
    assert code == 0, err
    assert "first document" in out
    assert not absent.exists()


def test_tokenizer_report_of_a_folder_finds_its_snapshot_in_the_tokenizers_workspace(tmp_path: Path, capsys) -> None:
    """Given a tokenizer folder, the snapshot it was trained on was looked up in ./workspace only."""
    from lmforge.pipeline.tokenize.config import TokenizerConfig
    from lmforge.pipeline.tokenize.trainer import train_tokenizer
    from tests.support.snapshots import make_snapshot, stdlib_docs

    ws = tmp_path / "ws"
    snap = make_snapshot(ws, stdlib_docs(max_chars=40_000))
    tok = train_tokenizer(snap, ws, TokenizerConfig(vocab_size=400, min_sample_chars=1000))
    code, out, err = run(["tokenizer", "report", str(tok), "--workspace", str(tmp_path / "elsewhere")], capsys)
    assert code == 0, err
    assert out.startswith("# Tokenizer")
    assert not (tmp_path / "elsewhere").exists()


# -- stage ids -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tokenizer", "report", ""], "empty tokenizer id"),
        (["register", "--run", " "], "--run is empty"),
        (["register", "--run", "r1", "--model-name", ""], "registry.model_name: '' must start with"),
    ],
)
def test_an_empty_id_is_refused_not_taken_as_a_prefix_of_everything(shards_ws: Path, capsys, args, message) -> None:
    """`--tokenizer "$UNSET"` matched every id: with one tokenizer in the workspace, that one was taken (and an
    empty `--run` was the current folder)."""
    code, _, err = run([*args, "--workspace", str(shards_ws)], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_an_absolute_path_that_is_no_stage_is_one_line(shards_ws: Path, capsys) -> None:
    """An absolute path to a folder that is not a finished stage was globbed under the workspace: a traceback
    (NotImplementedError: Non-relative patterns are unsupported)."""
    gone = shards_ws / "tokenizers" / "no-such-tokenizer"
    code, _, err = run(["tokenizer", "report", str(gone), "--workspace", str(shards_ws)], capsys)
    assert code == 2, err
    assert err.strip() == (
        f"lmforge: error: no finished tokenizer '{gone}' under {shards_ws / 'tokenizers'} (known: tok0000000000000)"
    )


def test_a_file_of_a_stage_is_named_as_a_file_with_its_folder(shards_ws: Path, capsys) -> None:
    model = shards_ws / "tokenizers" / "tok0000000000000" / "tokenizer.model"
    code, _, err = run(["tokenizer", "report", str(model), "--workspace", str(shards_ws)], capsys)
    assert code == 2
    assert f"{model} is a file; give the tokenizer id or its folder (the folder {model.parent}?)" in err


def test_an_ambiguous_prefix_lists_what_it_matches(shards_ws: Path, capsys) -> None:
    other = shards_ws / "shards" / "shards0000000001"
    shutil.copytree(shards_ws / "shards" / "shards0000000000", other)
    manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    (other / "manifest.json").write_text(json.dumps({**manifest, "id": other.name}), encoding="utf-8")  # a stage
    code, _, err = run(["train", "--shards", "shards", "--workspace", str(shards_ws)], capsys)
    assert code == 2
    assert "ambiguous" in err and "shards0000000000, shards0000000001" in err
    assert not (shards_ws / "runs").exists()


# -- evaluate --------------------------------------------------------------------------------------------------------
def test_evaluate_on_shards_of_another_tokenizer_says_what_to_do(model_workspace: Path, capsys) -> None:  # noqa: F811
    """It said "written with tokenizer 4117…, not the given 9f42…": nothing was given, and no way out."""
    make_shards(model_workspace)  # shards0000000000: the same kind of text, cut by another tokenizer
    code, _, err = run(
        ["evaluate", str(model_workspace / "runs" / "r1"), "--shards", "shards0", "--workspace", str(model_workspace)],
        capsys,
    )
    assert code == 2, err
    assert "shards shards0000000000 were cut by another tokenizer" in err
    assert "evaluate on shards built with the model's tokenizer" in err
    assert (
        run(
            [
                "evaluate",
                str(model_workspace / "runs" / "r1"),
                "--shards",
                SHARDS_ID,
                "--workspace",
                str(model_workspace),
            ]
            + ["--max-batches", "1", "--no-baseline"],
            capsys,
        )[0]
        == 0
    )


# -- help ------------------------------------------------------------------------------------------------------------
def test_every_option_of_every_command_has_help() -> None:
    from lmforge.flows.cli import _register, cli

    _register()
    missing = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])
            return
        missing.extend(
            f"{' '.join(path)} {p.opts[0]}"
            for p in cmd.params
            if isinstance(p, click.Option) and p.name != "help" and not p.help
        )

    walk(cli, [])
    assert missing == []


# -- two trainings of one run at once ----------------------------------------------------------------------------------
def test_the_run_lock_refuses_a_second_holder_and_is_free_again_after(tmp_path: Path) -> None:
    from lmforge.pipeline.train.launch import run_lock

    run_dir = tmp_path / "ws" / "runs" / "abc"
    with (
        run_lock(run_dir),
        pytest.raises(LmforgeError, match=f"{run_dir}: this run is being trained right now by process {os.getpid()}"),
        run_lock(run_dir),
    ):
        pass
    with run_lock(run_dir):  # released with its holder
        pass
    assert [p.name for p in run_dir.parent.iterdir()] == [".abc.lock"]  # not inside the run (its manifest lists it)


def test_the_train_flow_does_not_launch_a_run_another_process_is_training(shards_ws: Path, monkeypatch) -> None:
    """Two `lmforge train` (or `lmforge run`) of the same run at once both trained into its checkpoints,
    metrics.jsonl and MLflow run."""
    import logging

    from lmforge.flows import train as train_module
    from lmforge.pipeline.train.config import TrainConfig
    from lmforge.pipeline.train.launch import plan_run, run_lock

    def not_launched(*args, **kwargs):
        raise AssertionError("torchrun launched for a run that another process is training")

    monkeypatch.setattr(train_module, "torchrun_task", not_launched)
    monkeypatch.setattr(train_module, "get_run_logger", lambda: logging.getLogger("test"))
    plan = plan_run(shards_ws, "shards0000000000", TrainConfig())
    with run_lock(plan.run_dir), pytest.raises(LmforgeError, match="being trained right now"):
        train_module.train_flow.fn(shards="shards0000000000", workspace=str(shards_ws), nproc=1)
