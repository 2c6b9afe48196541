"""`lmforge generate` and `lmforge evaluate` end to end on a real (tiny, briefly trained) checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from lmforge.flows.cli import main
from lmforge.pipeline.configuring import to_dict
from lmforge.pipeline.stage import write_manifest
from lmforge.pipeline.train.checkpoint import META
from lmforge.pipeline.train.config import DataConfig, TrainConfig
from lmforge.pipeline.train.models import GPTConfig, ModelConfig, build_model
from lmforge.schemas.shards import open_tokens
from tests.support.tiny_shards import build, train_steps

SHARDS_ID = "0123456789abcdef"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A workspace with finished shards and a run whose checkpoint folder has the trainer's layout."""
    ws = tmp_path_factory.mktemp("ws")
    tiny = build(ws / "src")
    shards = ws / "shards" / SHARDS_ID
    shutil.copytree(tiny.shards_dir, shards)
    write_manifest(
        shards, format="lmforge.shards", id_=SHARDS_ID, inputs={}, params={"vocab_size": tiny.vocab_size}, stats={}
    )
    config = TrainConfig(
        model=ModelConfig(gpt=GPTConfig(n_layer=1, n_head=2, n_embd=64, block_size=32)), data=DataConfig(seq_len=32)
    )
    torch.manual_seed(0)
    model = build_model(config.model, tiny.vocab_size)
    train_steps(model, open_tokens(shards / "train-00000.bin").astype("int64"), 80)
    ckpt = ws / "runs" / "r1" / "checkpoints" / "step-00000030"
    ckpt.mkdir(parents=True)
    torch.save(model.state_dict(), ckpt / "model.pt")
    meta = {
        "config": to_dict(config),
        "vocab_size": tiny.vocab_size,
        "tokenizer_model": str(tiny.tokenizer),
        "tokenizer_id": None,
        "step": 30,
    }
    (ckpt / META).write_text(json.dumps(meta), encoding="utf-8")
    return ws


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_from_a_run_folder_is_reproducible(workspace: Path, capsys) -> None:
    args = [
        "generate",
        str(workspace / "runs" / "r1"),
        "--prompt",
        "Return the",
        "--max-new-tokens",
        "12",
        "--seed",
        "3",
        "--top-k",
        "20",
    ]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert out.startswith("Return the") and len(out.strip()) > len("Return the")
    assert run(args, capsys)[1] == out


def test_generate_greedy_from_a_checkpoint_file(workspace: Path, capsys) -> None:
    path = workspace / "runs" / "r1" / "checkpoints" / "step-00000030" / "model.pt"
    code, out, err = run(["generate", str(path), "--prompt", "The", "--greedy", "--max-new-tokens", "5"], capsys)
    assert code == 0, err
    assert out.startswith("The")


def test_generate_refuses_more_new_tokens_than_the_registered_model_allows(workspace: Path, capsys) -> None:
    """From a checkpoint, --max-new-tokens had no upper bound (10**12 held the process for good); a registered model
    refuses more than MAX_NEW_TOKENS, and so does a checkpoint now, before it is loaded."""
    args = ["generate", str(workspace / "runs" / "r1"), "--prompt", "The", "--greedy", "--max-new-tokens", "4097"]
    code, out, err = run(args, capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--max-new-tokens" in err and "4097 is not in the range 0<=x<=4096" in err


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_generate_refuses_a_seed_torch_cannot_take(workspace: Path, capsys, seed: str) -> None:
    """--seed 2**64 was a ValueError traceback from torch ("Overflow when unpacking long long"), and -1 seeded the
    checkpoint's sampling where a registered model reads it as "no seed"."""
    code, out, err = run(["generate", str(workspace / "runs" / "r1"), "--prompt", "The", "--seed", seed], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"--seed': {seed} is not in the range 0<=x<=9223372036854775807" in err


def test_generate_missing_checkpoint_is_one_line_error(tmp_path: Path, capsys) -> None:
    code, out, err = run(["generate", str(tmp_path / "nope"), "--prompt", "x"], capsys)
    assert code == 2 and "no such checkpoint" in err and "Traceback" not in err


@pytest.mark.slow  # creating MLflow's SQLite store runs its migrations: ~20 s on a busy 2-core machine
def test_generate_unknown_model_uri_is_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "ws").mkdir()
    code, out, err = run(
        ["generate", "models:/no-such-model@champion", "--prompt", "x", "--workspace", str(tmp_path / "ws")], capsys
    )
    assert code == 2 and "MLflow could not load 'models:/no-such-model@champion'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [["generate", "models:/lmforge@champion", "--prompt", "x"], ["lineage"]])
def test_a_registry_command_on_a_missing_workspace_names_it_and_makes_nothing(
    tmp_path: Path, capsys, args, monkeypatch
) -> None:
    """A mistyped --workspace made an empty folder with a fresh MLflow store, then said the model does not exist."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # a server the user set is read without a workspace
    typo = tmp_path / "wrokspace"
    code, out, err = run([*args, "--workspace", str(typo)], capsys)
    assert code == 2 and f"{typo}: no such workspace folder" in err and "Traceback" not in err
    assert not typo.exists()


def test_evaluate_prints_model_and_unigram(workspace: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("LMFORGE_JSON", "1")
    code, out, err = run(
        ["evaluate", str(workspace / "runs" / "r1"), "--shards", SHARDS_ID[:6], "--workspace", str(workspace)], capsys
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    model, unigram = summary["model"], summary["unigram"]
    assert set(model["per_lang"]) == {"en", "fr"}
    assert model["ppl"] < unigram["ppl"]  # 80 steps already beat token frequencies
    assert "model ppl" in out and "vs unigram ppl" in out


def test_evaluate_unknown_shards_is_one_line_error(workspace: Path, capsys) -> None:
    code, out, err = run(
        ["evaluate", str(workspace / "runs" / "r1"), "--shards", "ffff", "--workspace", str(workspace)], capsys
    )
    assert code == 2 and "no finished shard 'ffff'" in err


def test_evaluate_reports_the_window_it_scored_with(workspace: Path, capsys, monkeypatch) -> None:
    """A --seq-len past the model's context (32 here) is cut to it; the report said "batches of 8×1000" anyway."""
    monkeypatch.setenv("LMFORGE_JSON", "1")
    args = ["evaluate", str(workspace / "runs" / "r1"), "--shards", SHARDS_ID[:6], "--workspace", str(workspace)]
    code, out, err = run([*args, "--seq-len", "1000", "--max-batches", "1", "--no-baseline"], capsys)
    assert code == 0, err
    assert "1 batches of 8×32" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["model"]["seq_len"] == 32 and summary["model"]["tokens"] == 8 * 32
