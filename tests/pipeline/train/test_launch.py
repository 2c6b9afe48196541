"""Launch helpers: run folder naming, torchrun command lines, worker output streaming and failure summaries."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lmforge.pipeline.errors import ConfigError, LmforgeError
from lmforge.pipeline.train.config import OptimConfig, TrainConfig
from lmforge.pipeline.train.launch import plan_run, read_config, run_torchrun, torchrun_command, write_config
from tests.support.training import tiny_config


def test_run_folder_is_named_by_shards_and_config(shards_dir: Path) -> None:
    ws = shards_dir.parent.parent
    a, b = plan_run(ws, "shards", tiny_config()), plan_run(ws, shards_dir.name, tiny_config())
    c = plan_run(ws, "shards", tiny_config(seed=1))
    assert a == b and a.run_dir == ws / "runs" / a.run_id and a.shards_id == "shards0000000000"
    assert c.run_id != a.run_id


def test_config_round_trips_through_the_run_folder(tmp_path: Path) -> None:
    config = tiny_config(dtype="bf16", model={"kind": "lstm"})
    assert read_config(write_config(tmp_path, config)) == config


def test_a_json_run_config_is_read_as_its_toml_twin(tmp_path: Path) -> None:
    """`--config run.json` with a `train` section beside the others was taken for a bare train table: "unknown
    field(s) ['tokenizer', 'train']". It now reads as the same file in TOML does; one without a `train` section trains
    the defaults, as `lmforge run` reads it."""
    sections = {"tokenizer": {"vocab_size": 300}, "train": {"max_steps": 7, "optim": {"lr": 1e-3}}}
    toml = tmp_path / "run.toml"
    toml.write_text("[tokenizer]\nvocab_size = 300\n\n[train]\nmax_steps = 7\n\n[train.optim]\nlr = 1e-3\n")
    twin = tmp_path / "run.json"
    twin.write_text(json.dumps(sections))
    assert read_config(twin) == read_config(toml) == TrainConfig(max_steps=7, optim=OptimConfig(lr=1e-3))
    dotted = tmp_path / "dotted.json"
    dotted.write_text(json.dumps({"train.max_steps": 7, "train.optim.lr": 1e-3}))
    assert read_config(dotted) == read_config(toml)
    for suffix, text in ((".json", '{"tokenizer": {"vocab_size": 300}}'), (".toml", "[tokenizer]\nvocab_size = 300\n")):
        no_train = tmp_path / f"no-train{suffix}"
        no_train.write_text(text)
        assert read_config(no_train) == TrainConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"max_step": 5}',
            r"neither a run config .* nor a train table .*\['max_step'\] \(did you mean 'max_steps'\?\)",
        ),
        ('{"shard": {}}', r"neither a run config .*did you mean 'shards'\?"),
        ('{"max_steps": 5,', r"run\.json: not valid JSON"),
        ("[5]", r"run\.json: a JSON config holds an object of sections, got a list"),
    ],
)
def test_a_json_config_that_is_neither_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    """A JSON file that is no train table was a bare json.JSONDecodeError (a traceback in the worker) or a list of
    "unknown field(s)" that did not say a run config was expected too."""
    path = tmp_path / "run.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(path)


def test_torchrun_command_lines() -> None:
    single = torchrun_command(shards_dir=Path("/s"), run_dir=Path("/r/abc"), nproc=2)
    assert single[:4] == [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2"]
    assert "--standalone" in single and single[-4:] == ["--shards-dir", "/s", "--run-dir", "/r/abc"]
    multi = torchrun_command(
        shards_dir=Path("/s"),
        run_dir=Path("/r/abc"),
        nproc=8,
        nnodes=2,
        node_rank=1,
        rdzv_endpoint="node0:29400",
        resume=False,
        tags={"k": "v"},
    )
    for arg in ("--nnodes=2", "--node-rank=1", "--rdzv-endpoint=node0:29400", "--rdzv-id=abc", "--no-resume"):
        assert arg in multi
    assert "--standalone" not in multi and multi[-2:] == ["--tag", "k=v"]
    with pytest.raises(ConfigError, match="rdzv-endpoint"):
        torchrun_command(shards_dir=Path("/s"), run_dir=Path("/r"), nproc=1, nnodes=2)


def test_streaming_and_failure_summary() -> None:
    lines: list[str] = []
    run_torchrun([sys.executable, "-c", "print('a'); print('b')"], lines.append)
    assert lines == ["a", "b"]
    script = "import sys; print('step 1'); print('[rank 1] lmforge: error: the loader broke', file=sys.stderr); exit(2)"
    with pytest.raises(LmforgeError, match=r"exit 2\): the loader broke$"):
        run_torchrun([sys.executable, "-c", script], lines.append)


@pytest.mark.parametrize(
    ("topology", "message"),
    [
        ({"nproc": 0}, r"--nproc \(0\) must be at least 1"),
        ({"nproc": 1, "nnodes": 0}, r"--nnodes \(0\) must be at least 1"),
        ({"nproc": 1, "nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"}, r"--node-rank \(2\) must be in \[0, 2\)"),
        ({"nproc": 1, "nnodes": 2}, "rdzv-endpoint"),
    ],
)
def test_bad_topology_is_refused_before_the_run_folder(shards_dir: Path, topology, message) -> None:
    from lmforge.flows.train import train_flow

    ws = shards_dir.parent.parent
    runs = ws / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()  # the shards fixture's workspace is shared
    with pytest.raises(ConfigError, match=message):
        train_flow.fn(shards="shards", workspace=str(ws), overrides={"train": {"max_steps": 7}}, **topology)
    assert (set(runs.iterdir()) if runs.exists() else set()) == before


def test_a_worker_that_cannot_write_its_run_folder_says_so_in_one_line(shards_dir: Path, tmp_path: Path, capsys):
    """An OSError in a worker (a full disk, a read-only or misplaced run folder) was a traceback that torchrun's
    summary buries under ChildFailedError lines; the worker prints the one line the launcher picks up instead."""
    from lmforge.pipeline.train.launch import main

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    run_dir = blocker / "run"
    config = write_config(tmp_path / "cfg", tiny_config(max_steps=2))
    assert main(["--shards-dir", str(shards_dir), "--run-dir", str(run_dir), "--config", str(config)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "lmforge: error: " in line]
    assert len(err) == 1 and str(blocker) in err[0]
