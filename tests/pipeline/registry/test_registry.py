"""Registering a trained run: pyfunc package loadable in a fresh process, lineage tags and inputs, promotion gate,
clear errors, and no planted canary anywhere in MLflow's stores."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from lmforge.pipeline.errors import IntegrityError, NotFoundError
from lmforge.pipeline.registry import gate
from lmforge.pipeline.registry.registry import TrackingUnreachableError, aliases_of, register, resolve_version
from lmforge.pipeline.train.checkpoint import list_checkpoints
from tests.pipeline.registry.conftest import NAME
from tests.support.canaries import find_canaries
from tests.support.registry import TOKENIZER, train_run

LOAD_AND_PREDICT = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
greedy = {"greedy": True, "max_new_tokens": 12}
a = model.predict(["The", "Return the"], params=greedy)
b = model.predict(pd.DataFrame({"prompt": ["The", "Return the"]}), params=greedy)
s1 = model.predict(["The"], params={"max_new_tokens": 8, "seed": 7, "top_k": 20, "temperature": 0.9})
s2 = model.predict(["The"], params={"max_new_tokens": 8, "seed": 7, "top_k": 20, "temperature": 0.9})
print(json.dumps({"a": a, "b": b, "s1": s1, "s2": s2, "signature": model.metadata.signature.to_dict()}))
"""


def test_first_version_is_candidate_and_champion(champion) -> None:
    registered, result = champion
    assert registered.version == "1" and result.promoted and "first version" in result.reason
    assert aliases_of(NAME, "1") == ["candidate", "champion"]
    assert str(resolve_version(f"models:/{NAME}@champion").version) == "1"


def test_fresh_process_loads_champion_and_generates(chain, champion) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"], "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, f"models:/{NAME}@champion"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "type hints" not in out.stderr  # MLflow warned at every load of a predict() without them
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(got["a"]) == 2 and all(isinstance(t, str) for t in got["a"])
    assert got["a"] == got["b"]  # greedy: list and DataFrame inputs give the same, deterministic text
    assert got["s1"] == got["s2"]  # seeded sampling is reproducible
    params = {p["name"] for p in json.loads(got["signature"]["params"])}
    assert {"max_new_tokens", "temperature", "top_k", "top_p", "greedy", "seed", "repetition_penalty"} <= params


def test_tags_and_inputs_hold_the_lineage(chain, champion) -> None:
    import mlflow

    from lmforge.schemas.manifest import Manifest

    registered, _ = champion
    tags = dict(resolve_version(f"models:/{NAME}/1").tags)
    snapshot = Manifest.read(chain.snapshot)
    assert tags["lmforge.shards"] == chain.shards.name and tags["lmforge.tokenizer"] == chain.tokenizer.name
    assert tags["lmforge.snapshot"] == chain.snapshot.name
    assert json.loads(tags["lmforge.raw_inputs"]) == [
        {"path": u["path"], "sha256": u["sha256"]} for u in snapshot.inputs["units"]
    ]
    assert {k: int(v) for k, v in tags.items() if k.startswith("lmforge.pii.")} == {
        f"lmforge.pii.{k}": v for k, v in snapshot.stats["pii"].items()
    }
    assert float(tags["lmforge.eval.val_bpb"]) == pytest.approx(registered.metrics["val_bpb"], rel=1e-5)
    assert tags["lmforge.prefect.flow_run_id"] == "test-flow-run" and "lmforge.git_sha" in tags
    run = mlflow.get_run(registered.run_id)
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    for stage in (chain.snapshot, chain.tokenizer, chain.shards):
        ds = next(d for name, d in inputs.items() if name.endswith(stage.name))
        assert ds.dataset.digest == stage.name and json.loads(ds.dataset.profile)["num_rows"] == len(
            Manifest.read(stage).files
        )
    assert "registry.val_bpb" in run.data.metrics


def test_worse_model_stays_candidate_and_the_gate_is_logged(chain, champion, untrained) -> None:
    import mlflow

    registered = register(chain.workspace, untrained)
    result = gate.judge(chain.workspace, NAME, registered.version)
    gate.apply(NAME, result)
    assert not result.promoted and not result.reencoded
    assert result.candidate_bpb > result.champion_bpb and result.val_shards == chain.shards.name
    assert aliases_of(NAME, registered.version) == ["candidate"] and aliases_of(NAME, "1") == ["champion"]
    tags = dict(resolve_version(f"models:/{NAME}/{registered.version}").tags)
    assert float(tags["lmforge.gate.champion_bpb"]) == pytest.approx(result.champion_bpb)
    assert tags["lmforge.gate.promoted"] == "False"
    assert mlflow.get_run(registered.run_id).data.metrics["gate.candidate_bpb"] == pytest.approx(result.candidate_bpb)


def test_other_tokenizer_is_compared_on_reencoded_champion_val_docs(chain, champion) -> None:
    from dataclasses import replace

    from lmforge.pipeline.tokenize.shards import build_shards
    from lmforge.pipeline.tokenize.trainer import train_tokenizer
    from tests.support.registry import SHARDS, Chain

    tok = train_tokenizer(chain.snapshot, chain.workspace, replace(TOKENIZER, vocab_size=450))
    shards = build_shards(chain.snapshot, tok, chain.workspace, SHARDS, workers=1)
    other = Chain(chain.workspace, chain.raw, chain.snapshot, tok, shards)
    registered = register(chain.workspace, train_run(other, "other-tokenizer", 40))
    result = gate.judge(chain.workspace, NAME, registered.version)
    assert result.reencoded and result.val_shards == chain.shards.name
    assert result.candidate_bpb == pytest.approx(registered.metrics["val_bpb"], rel=1e-6)  # same docs, same split


def test_unknown_model_or_alias_is_a_clear_error(champion) -> None:
    with pytest.raises(NotFoundError, match=r"no alias 'nope'.*@champion"):
        resolve_version(f"models:/{NAME}@nope")
    with pytest.raises(NotFoundError, match=rf"'missing' does not exist.*{NAME}"):
        resolve_version("models:/missing@champion")


def test_unreachable_server_registers_nothing(chain, trained, monkeypatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(TrackingUnreachableError, match="unreachable.*Nothing was registered"):
        register(chain.workspace, trained)


def _mlflow_pointing() -> tuple[str | None, ...]:
    """What MLflow was told to use (None: not set) and the two environment variables it also follows."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    return tracking_utils._tracking_uri, registry_utils._registry_uri, *env


@pytest.mark.parametrize("caller", ["unset", "elsewhere"])
@pytest.mark.parametrize("outcome", ["registered", "raised"])
def test_register_leaves_mlflow_pointed_where_the_caller_had_it(
    chain, champion, trained, tmp_path, monkeypatch, caller: str, outcome: str
) -> None:
    """`register` pointed the process's MLflow at the workspace's store and left it there: the caller's next
    `mlflow.get_run` or `MlflowClient()` read and wrote that store (a test after test_lineage.py's moved workspace
    looked its run up in that workspace's store)."""
    import mlflow

    from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept

    session = os.environ["MLFLOW_TRACKING_URI"]
    run = trained
    if outcome == "raised":
        run = chain.workspace / "runs" / "pointing-no-checkpoint"
        run.mkdir(parents=True, exist_ok=True)
    with mlflow_uris_kept():
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'caller.db'}" if caller == "elsewhere" else None)
        mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'caller-registry.db'}" if caller == "elsewhere" else None)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", session)  # the store register uses; MLflow's setters wrote it
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        before = _mlflow_pointing()
        if outcome == "raised":
            with pytest.raises(NotFoundError, match="no finished checkpoint"):
                register(chain.workspace, run)
        else:
            assert register(chain.workspace, run).version == champion[0].version
        assert _mlflow_pointing() == before


def test_the_flows_gate_leaves_mlflow_pointed_where_the_caller_had_it(chain, champion, tmp_path, monkeypatch) -> None:
    """The register flow's gate task pointed MLflow at the workspace's store and left it there: `register_flow`
    called in-process (a notebook, a test) kept its caller's `mlflow.get_run` and `MlflowClient()` on that store."""
    import logging

    import mlflow

    from lmforge.flows import register as flow
    from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept

    monkeypatch.setattr(flow, "get_run_logger", lambda: logging.getLogger("gate-task"))  # no Prefect run here
    session = os.environ["MLFLOW_TRACKING_URI"]
    with mlflow_uris_kept():
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'caller.db'}")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", session)  # the store the gate uses; MLflow's setter wrote it
        before = _mlflow_pointing()
        verdict = flow.gate_task.fn(chain.workspace, NAME, champion[0].version, {})
        assert _mlflow_pointing() == before
    assert verdict["promoted"] and verdict["aliases"] == aliases_of(NAME, champion[0].version)
    assert "champion" in verdict["aliases"]


def test_run_without_checkpoint_is_a_clear_error(chain, tmp_path) -> None:
    empty = chain.workspace / "runs" / "empty"
    empty.mkdir(parents=True, exist_ok=True)
    with pytest.raises(NotFoundError, match="no finished checkpoint"):
        register(chain.workspace, empty)


@pytest.mark.parametrize(("name", "damage"), [("model.pt", "cut"), ("meta.json", "cut"), ("model.pt", "flip")])
def test_a_damaged_checkpoint_is_a_clear_error_and_registers_nothing(chain, trained, name: str, damage: str) -> None:
    """A truncated model.pt was a raw OSError from torch.load, a truncated meta.json a JSONDecodeError, and weights
    with flipped bytes (same size: torch.load does not check CRCs) were registered as they were."""
    from mlflow import MlflowClient

    run = chain.workspace / "runs" / f"damaged-{damage}-{name}"
    shutil.copytree(trained, run)
    path = list_checkpoints(run)[-1] / name
    data = path.read_bytes()
    if damage == "cut":
        path.write_bytes(data[: len(data) // 2])  # a disk full or a bad copy
    else:  # bit rot in the middle of the tensor data
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :])
    before = len(MlflowClient().search_model_versions(f"name = '{NAME}'"))
    try:
        with pytest.raises(IntegrityError, match=rf"{path}: damaged checkpoint file"):
            register(chain.workspace, run)
    finally:
        shutil.rmtree(run)
    assert len(MlflowClient().search_model_versions(f"name = '{NAME}'")) == before


def test_no_canary_reaches_mlflow(chain, champion) -> None:
    assert (chain.workspace / "mlartifacts").is_dir()
    assert find_canaries([chain.workspace / "mlflow.db", chain.workspace / "mlartifacts"]) == []


def test_lineage_cli_prints_the_chain_and_verify_catches_a_tampered_shard(chain, champion, capsys) -> None:
    from lmforge.flows.cli import main

    assert main(["lineage", f"models:/{NAME}@champion", "--verify", "--workspace", str(chain.workspace)]) == 0
    out = capsys.readouterr().out
    for ident in (chain.shards.name, chain.tokenizer.name, chain.snapshot.name, str(chain.raw)):
        assert ident in out
    assert "verify: OK" in out
    shard = chain.shards / "val-00000.bin"
    original = shard.read_bytes()
    try:
        shard.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
        assert main(["lineage", f"models:/{NAME}@champion", "--verify", "--workspace", str(chain.workspace)]) == 1
        assert f"MISMATCH {shard}" in capsys.readouterr().out
    finally:
        shard.write_bytes(original)
    assert main(["lineage", "models:/lmforge@nope", "--workspace", str(chain.workspace)]) == 2
    assert "no alias 'nope'" in capsys.readouterr().err
