"""`-` for stdin/stdout in `lmforge pii`, and a stdout whose reader went away (`lmforge … | head -1`), as Unix tools
behave: records on stdout, the summary on stderr, no file named `-`, and a quiet exit 141 without a traceback."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmforge.flows.cli import EXIT_STDOUT_CLOSED, main

RECORDS = [
    {"id": "a", "text": "Write to ada@example.org about the bread."},
    {"id": "b", "text": "Card 4111 1111 1111 1111 please."},
    {"id": "c", "text": "No personal data."},
]
DROP_CARDS = '[privacy.actions]\nCREDIT_CARD = "drop"\n'


@pytest.fixture(autouse=True)
def own_env(monkeypatch, tmp_path: Path):
    """main() sets process env defaults for its workspace; keep them local. Run in a scratch folder, where a file
    literally named `-` would show up."""
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return path


def lmforge(*args: str, stdin: bytes | None = None, cwd: Path) -> subprocess.CompletedProcess:
    """The console script in a fresh process, its stdin fed from `stdin`."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "MLFLOW_TRACKING_URI")}
    return subprocess.run(
        [sys.executable, "-m", "lmforge.flows", *args],
        input=stdin,
        capture_output=True,
        env=inherited,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def lmforge_into_closed_pipe(*args: str, cwd: Path) -> tuple[int, str]:
    """The console script with its stdout a pipe whose reader has already gone (`| head -1` after its first line)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "MLFLOW_TRACKING_URI")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmforge.flows", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=inherited,
        cwd=cwd,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    return proc.wait(timeout=300), err


# -- `-` as --out and as INPUT ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["scan", "redact"])
def test_out_dash_writes_stdout_and_no_file_named_dash(src: Path, tmp_path: Path, capsys, command: str) -> None:
    """`--out -` wrote a file literally named `-` (and the redact rejects to `-.rejects.jsonl`)."""
    assert main(["pii", command, str(src), "--out", "-"]) == 0
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert [r["id"] for r in lines] == ["a", "b", "c"]
    if command == "redact":
        assert lines[0]["text"] == "Write to <EMAIL> about the bread."
    assert out.err.startswith({"scan": "scanned", "redact": "redacted"}[command] + " 3 records")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_a_file_named_dash_is_still_reachable_as_dot_slash_dash(src: Path, tmp_path: Path, capsys) -> None:
    assert main(["pii", "redact", str(src), "--out", "./-"]) == 0
    assert (tmp_path / "-").is_file() and capsys.readouterr().out == ""


def test_input_dash_reads_stdin_plain_or_gzip(src: Path, tmp_path: Path) -> None:
    for data in (src.read_bytes(), gzip.compress(src.read_bytes())):
        proc = lmforge("pii", "redact", "-", "--out", "-", stdin=data, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == ["a", "b", "c"]
        assert proc.stderr.decode().splitlines() == ["redacted 3 records; errors 0; dropped 0; CREDIT_CARD=1, EMAIL=1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_dropped_records_with_out_dash_go_to_rejects_only_when_asked(src: Path, tmp_path: Path, capsys) -> None:
    """No rejects file is derived from `-`; a dropped record that is kept nowhere is said so, not lost silently."""
    config = tmp_path / "drop.toml"
    config.write_text(DROP_CARDS, encoding="utf-8")
    assert main(["pii", "redact", str(src), "--out", "-", "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.out.splitlines()] == ["a", "c"]
    assert "1 dropped or bad record(s) were not kept" in out.err and "--rejects FILE" in out.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drop.toml", "in.jsonl"]

    rejects = tmp_path / "dropped.jsonl"
    assert main(["pii", "redact", str(src), "--out", "-", "--config", str(config), "--rejects", str(rejects)]) == 0
    assert "not kept" not in capsys.readouterr().err
    assert [json.loads(line)["id"] for line in rejects.read_text(encoding="utf-8").splitlines()] == ["b"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "-", "--report", "-"], "--out and --report cannot both be - (stdout)"),
        (["--out", "o.jsonl", "--rejects", "-"], "- (stdout) is for --out; give a file"),
        (["--out", ""], "empty path"),
    ],
)
def test_conflicting_dashes_are_one_line(src: Path, tmp_path: Path, capsys, args, message) -> None:
    assert main(["pii", "redact", str(src), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("lmforge: error: ") and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_report_dash_writes_the_report_to_stdout(src: Path, tmp_path: Path, capsys) -> None:
    assert main(["pii", "scan", str(src), "--out", str(tmp_path / "spans.jsonl"), "--report", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"CREDIT_CARD": 1, "EMAIL": 1}


def test_a_missing_input_leaves_no_empty_output(tmp_path: Path, capsys) -> None:
    """The output file was opened (made empty) before the input was found missing."""
    assert main(["pii", "scan", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "spans.jsonl")]) == 2
    assert "nope.jsonl: input file not found" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# -- a closed stdout -------------------------------------------------------------------------------------------------
def test_help_into_a_closed_pipe_exits_141_quietly(tmp_path: Path) -> None:
    """`lmforge --help | head -1` exited 1 (click's own handling), as if something had failed."""
    code, err = lmforge_into_closed_pipe("--help", cwd=tmp_path)
    assert (code, err) == (EXIT_STDOUT_CLOSED, "")


def test_redact_to_a_closed_pipe_exits_141_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"id": i, "text": f"mail ada{i}@example.org"}) + "\n" for i in range(3000)))
    code, err = lmforge_into_closed_pipe("pii", "redact", str(big), "--out", "-", cwd=tmp_path)
    assert code == EXIT_STDOUT_CLOSED, err
    assert "Traceback" not in err and "Exception ignored" not in err and "Broken pipe" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl"]


def test_shards_inspect_into_a_closed_pipe_exits_141_quietly(tmp_path: Path) -> None:
    from tests.support.shards import make_shards

    shards = make_shards(tmp_path / "ws")
    code, err = lmforge_into_closed_pipe("shards", "inspect", str(shards), cwd=tmp_path)
    assert (code, err) == (EXIT_STDOUT_CLOSED, "")
