"""Bad arguments to the commands that write a workspace (curate, dedup, run, backfill, deploy) and to the options
that take numbers: one `lmforge: error: …` line, exit 2, and nothing made on disk on the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmforge.flows.cli import main


@pytest.fixture(autouse=True)
def _own_env(monkeypatch):
    """main() points Prefect/MLflow env vars at the workspace it is given; keep that to the test."""
    monkeypatch.setattr(os, "environ", os.environ.copy())
    os.environ.pop("PREFECT_API_URL", None)


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error(err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmforge: error: "), err
    assert expected in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["curate"], "Missing argument 'INPUTS...'"),
        (["curate", "IN", "--task-runner", "ray"], "Invalid value for '--task-runner'"),
        (["curate", "missing.jsonl"], "missing.jsonl: input path does not exist"),
        (["curate", "IN", "--config", "missing.toml"], "missing.toml: config file not found"),
        (["dedup", "IN", "--threshold", "abc"], "Invalid value for '--threshold'"),
        (["dedup", "IN", "--threshold", "1.5"], "Invalid value for '--threshold'"),
        (["run", "--nproc", "0"], "Invalid value for '--nproc'"),
        (["run", "--stages", "curate,trian"], "--stages: unknown stage(s) ['trian']"),
        (["run", "--input", "missing.jsonl"], "missing.jsonl: input path does not exist"),
        (["run", "--corpus-mb", "nan"], "Invalid value for '--corpus-mb': nan is not a finite number"),
        (["backfill", "--from", "2026-01-01", "--input-root", "ROOT"], "Missing option '--to'"),
        (
            ["backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--input-root", "ROOT", "--stages", "tokenizer"],
            "--stages: a backfill curates each partition, so the stages must include 'curate'",
        ),
        (
            ["backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--input-root", "missing-root"],
            "missing-root: input root is not a folder",
        ),
        (["deploy", "--bogus"], "No such option '--bogus'"),
        (
            ["deploy", "--only", "curate-dialy", "--input-root", "ROOT"],
            "--only: unknown deployment(s) ['curate-dialy']",
        ),
        (["deploy"], "--input-root: deployment(s) ['curate-daily', 'train-weekly'] need it"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_usage_error_makes_no_workspace(tmp_path: Path, capsys, monkeypatch, args, expected) -> None:
    """`--workspace` is an eager option: its callback made the folder and a Prefect home in it before click had
    looked at the other arguments, so every mistyped command line left an empty workspace behind (or, for `run
    --input missing.jsonl`, one with the flow runs of a Prefect server it started before failing)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "A short note."}\n', encoding="utf-8")
    (tmp_path / "root" / "date=2026-01-01").mkdir(parents=True)
    args = [{"IN": "in.jsonl", "ROOT": "root"}.get(a, a) for a in args]
    ws = tmp_path / "ws"
    code, _, err = _run([*args, "--workspace", str(ws)], capsys)
    assert code == 2, err
    _one_error(err, expected)
    assert not ws.exists()


@pytest.mark.parametrize("command", [["curate"], ["dedup"], ["run"], ["backfill"], ["deploy"]], ids=" ".join)
def test_help_after_workspace_makes_no_workspace(tmp_path: Path, capsys, command) -> None:
    """`lmforge run --workspace W --help`: the eager workspace option came first and made W."""
    ws = tmp_path / "ws"
    code, out, _ = _run([*command, "--workspace", str(ws), "--help"], capsys)
    assert code == 0 and "--workspace" in out
    assert not ws.exists()


def test_a_workspace_given_as_a_file_is_still_refused(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "ws"
    blocker.write_text("a file", encoding="utf-8")
    code, _, err = _run(["curate", str(tmp_path), "--workspace", str(blocker)], capsys)
    assert code == 2
    _one_error(err, "is a file")
    assert blocker.read_text(encoding="utf-8") == "a file"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["corpus", "default", "--out", "OUT", "--max-mb", "inf"], "Invalid value for '--max-mb': inf is not a finite"),
        (["corpus", "default", "--out", "OUT", "--max-mb", "nan"], "Invalid value for '--max-mb': nan is not a finite"),
        (
            ["tokenizer", "train", "--snapshot", "s", "--vocab-size", "10"],
            "Invalid value for '--vocab-size': 10 leaves",
        ),
        (
            ["tokenizer", "train", "--snapshot", "s", "--sample-chars", "0"],
            "Invalid value for '--sample-chars': must be",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_bad_number_names_the_option_it_was_given_to(tmp_path: Path, capsys, args, expected) -> None:
    """`--max-mb nan` was said as `corpus.max_mb`, and `--vocab-size 10` as `tokenizer.vocab_size`: config keys the
    user never wrote; `--corpus-mb nan` went through to the flow and failed only after Prefect had started."""
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    code, _, err = (
        _run([*args, "--workspace", str(tmp_path / "ws")], capsys) if args[0] == "tokenizer" else _run(args, capsys)
    )
    assert code == 2, err
    _one_error(err, expected)
    assert not (tmp_path / "out").exists() and not (tmp_path / "ws").exists()


def test_run_says_which_options_its_stages_ignore(tmp_path: Path, capsys) -> None:
    """`--nproc` without the train stage and `--corpus-mb` with --input were dropped without a word."""
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "A short note."}\n', encoding="utf-8")
    args = ["run", "--input", str(tmp_path / "in.jsonl"), "--stages", "curate", "--nproc", "2", "--corpus-mb", "1"]
    code, _, err = _run([*args, "--index", "bogus://x", "--workspace", str(tmp_path / "ws")], capsys)
    assert code == 2
    assert err.splitlines() == [
        "lmforge: warning: --corpus-mb sizes the built-in corpus: ignored, since --input is given",
        "lmforge: warning: --nproc is for training: ignored, since --stages does not include train",
        "lmforge: error: --index: 'bogus://x' is neither empty (local index) nor a redis:// URL",
    ]


def test_run_without_curate_says_index_is_ignored_and_needs_no_redis(tmp_path: Path, capsys) -> None:
    """Only curation reads the dedup index: `--stages tokenizer --index redis://…` dropped the option without a word,
    and a Redis that was down stopped the run ("dedup index … is unreachable") though no stage would have used it."""
    os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # stops the command right after the index check
    args = ["run", "--stages", "tokenizer", "--index", "redis://127.0.0.1:9/0", "--workspace", str(tmp_path / "ws")]
    code, _, err = _run(args, capsys)
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == (
        "lmforge: warning: --index is the dedup index of curation: ignored, since --stages does not include curate"
    )
    assert lines[1].startswith("lmforge: error: Prefect API at http://127.0.0.1:9/api is unreachable"), err
    assert len(lines) == 2


def test_run_without_train_or_register_needs_no_mlflow_server(tmp_path: Path, capsys, monkeypatch) -> None:
    """Only training and registration log to MLflow: `--stages tokenizer` with MLFLOW_TRACKING_URI at a server that
    was down stopped with "MLflow tracking server … is unreachable" before a stage that never talks to it."""
    import lmforge.flows.run

    calls = []
    monkeypatch.setattr(lmforge.flows.run, "run_flow", lambda **kw: calls.append(kw) or {})
    os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"
    code, _, err = _run(["run", "--stages", "tokenizer", "--workspace", str(tmp_path / "ws")], capsys)
    assert code == 0 and "Traceback" not in err and "MLflow" not in err, err
    assert [c["stages"] for c in calls] == [["tokenizer"]]
    code, _, err = _run(["run", "--stages", "tokenizer,train", "--workspace", str(tmp_path / "ws")], capsys)
    assert code == 2 and "MLflow tracking server http://127.0.0.1:9 is unreachable" in err and len(calls) == 1


def test_deploy_says_input_root_is_ignored_when_only_run_is_deployed(tmp_path: Path, capsys) -> None:
    """Only the scheduled deployments take the input root: `--only run --input-root R` dropped it without a word
    (and refused an R that `run` would never read)."""
    args = ["deploy", "--only", "run", "--input-root", str(tmp_path / "missing"), "--workspace", str(tmp_path / "ws")]
    code, _, err = _run(args, capsys)  # no Prefect server configured: stops there, after the argument checks
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == (
        "lmforge: warning: --input-root is for the scheduled deployments: ignored, since --only selects only ['run']"
    )
    assert lines[1].startswith("lmforge: error: no Prefect server configured") and len(lines) == 2, err


def test_backfill_says_nproc_is_ignored_without_train(tmp_path: Path, capsys) -> None:
    args = ["backfill", "--from", "2026-01-01", "--to", "2026-01-01", "--input-root", str(tmp_path / "none")]
    code, _, err = _run([*args, "--nproc", "2", "--workspace", str(tmp_path / "ws")], capsys)
    assert code == 2
    assert err.splitlines()[0] == (
        "lmforge: warning: --nproc is for training: ignored, since --stages does not include train"
    )
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize(("name", "text"), [("run.json", '{"train": {"max_steps": 3}'), ("run.ini", "[train]\n")])
def test_a_config_of_an_unknown_or_broken_kind_is_one_line(tmp_path: Path, capsys, name, text) -> None:
    """A `.json` config was parsed as TOML ("not valid TOML (Invalid statement (at line 1, column 1))")."""
    config = tmp_path / name
    config.write_text(text, encoding="utf-8")
    code, _, err = _run(["run", "--config", str(config), "--workspace", str(tmp_path / "ws")], capsys)
    assert code == 2
    _one_error(err, "not valid JSON" if name.endswith(".json") else "name it .toml, .yaml, .yml or .json")
    assert "TOML (" not in err
    assert not (tmp_path / "ws").exists()


def test_a_usage_error_is_one_line_from_a_shell_too(tmp_path: Path) -> None:
    """In a real process, importing Prefect (which `run` does to check --stages) before the workspace exists printed
    "UserWarning: Failed to create the Prefect home directory" under the error; in-process tests do not see it."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "LMFORGE_"))}
    for ws in (tmp_path / "new", tmp_path / "existing"):
        if ws.name == "existing":
            ws.mkdir()
        done = subprocess.run(
            [sys.executable, "-m", "lmforge.flows", "run", "--stages", "curate,trian", "--workspace", str(ws)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr
        _one_error(done.stderr, "--stages: unknown stage(s) ['trian']")
        # Prefect, imported to check the names, made its home (`.prefect`) in a workspace that was there
        assert list(ws.iterdir()) == [] if ws.exists() else ws.name == "new"


def test_run_checks_stages_against_the_flows_own_list() -> None:
    """`run` and `backfill` check --stages against a copy that does not import Prefect (see RUN_STAGES)."""
    from lmforge.flows.commands.common import RUN_STAGES
    from lmforge.flows.run import STAGES

    assert RUN_STAGES == STAGES


def test_an_empty_workspace_is_refused_not_the_current_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    """`--workspace "$WS"` with WS unset was Path(""), the current folder: snapshots/, mlflow.db and .prefect went
    there. An empty LMFORGE_WORKSPACE is unset (the shell's `${WS:-workspace}`), so ./workspace."""
    monkeypatch.chdir(tmp_path)
    for name in ("LMFORGE_WORKSPACE", "PREFECT_HOME", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMFORGE_WORKSPACE", "")
    code, _, err = _run(["curate", "missing.jsonl"], capsys)
    assert code == 2
    _one_error(err, "missing.jsonl: input path does not exist")
    assert os.environ["LMFORGE_WORKSPACE"] == str(tmp_path / "workspace")
    assert os.environ["PREFECT_HOME"] == str(tmp_path / "workspace" / ".prefect")
    for option in (["--workspace", ""], ["--workspace="], ["--workspace", "  "]):
        code, _, err = _run(["curate", "in.jsonl", *option], capsys)
        assert code == 2
        _one_error(err, "Invalid value for '--workspace': empty path; give a folder (is a variable unset?)")
    assert list(tmp_path.iterdir()) == []
