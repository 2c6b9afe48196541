"""The tokenizer and shards flows under a real (temporary) Prefect API: results, artifacts, one task per unit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lmforge.flows.tokenizer import shards_flow, tokenizer_flow
from lmforge.pipeline.tokenize.config import ShardsConfig, TokenizerConfig
from lmforge.schemas.manifest import Manifest
from tests.support.snapshots import make_snapshot, multilingual_docs, stdlib_docs

CONFIG = TokenizerConfig(vocab_size=500, sample_chars=60_000, num_threads=1)


async def _task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


async def _artifact(key, flow_run_id):
    """The artifact `key` of one flow run (other tests in the session publish the same key)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
        return found[0] if found else None


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    docs = stdlib_docs(max_chars=70_000) + multilingual_docs()
    return ws, make_snapshot(ws, docs, files=3)  # one row group per file


def test_tokenizer_flow_trains_and_publishes_report(prefect_harness, snapshot):
    ws, snap = snapshot
    state = tokenizer_flow(snapshot=snap.name[:8], workspace=str(ws), config=CONFIG, return_state=True)
    out = state.result()
    manifest = Manifest.read(out)
    assert manifest.format == "lmforge.tokenizer" and manifest.inputs["snapshot"] == snap.name
    artifact = asyncio.run(_artifact("tokenizer-report", state.state_details.flow_run_id))
    assert artifact is not None and f"# Tokenizer `{manifest.id}`" in artifact.data
    for doc in multilingual_docs():  # no document text reaches Prefect
        assert doc["text"][:30] not in artifact.data
    assert tokenizer_flow(snapshot=snap.name, workspace=str(ws), config=CONFIG) == out  # re-run: same folder


def test_tokenizer_flow_warns_in_its_log_and_report_when_nothing_was_held_out(prefect_harness, snapshot, caplog):
    ws, snap = snapshot
    config = TokenizerConfig(vocab_size=500, sample_chars=1_000_000, heldout_fraction=0.0, num_threads=1)
    with caplog.at_level("WARNING"):
        state = tokenizer_flow(snapshot=snap.name, workspace=str(ws), config=config, return_state=True)
    artifact = asyncio.run(_artifact("tokenizer-report", state.state_details.flow_run_id))
    assert "- **warning**: no held-out documents" in artifact.data
    flow_lines = [r.getMessage() for r in caplog.records if r.name == "prefect.flow_runs"]
    assert any("no held-out documents" in line for line in flow_lines), flow_lines


def test_shards_flow_one_task_per_snapshot_file(prefect_harness, snapshot):
    ws, snap = snapshot
    tokenizer = tokenizer_flow(snapshot=snap.name, workspace=str(ws), config=CONFIG)
    config = ShardsConfig(shard_tokens=10_000)
    state = shards_flow(snapshot=snap.name, tokenizer=tokenizer, workspace=str(ws), config=config, return_state=True)
    out = state.result()
    manifest = Manifest.read(out)
    assert manifest.stats["units"] == 3
    runs = asyncio.run(_task_runs(state.state_details.flow_run_id))
    encode = sorted(r.name for r in runs if r.name.startswith("encode-"))
    assert encode == ["encode-00000-00000", "encode-00001-00000", "encode-00002-00000"]
    assert all(r.state.is_completed() for r in runs)
    # the flow and the plain function make the same files
    from lmforge.pipeline.tokenize.shards import build_shards

    plain = build_shards(snap, Path(tokenizer), ws / "plain", config, workers=1)
    assert sorted(f.sha256 for f in Manifest.read(plain).files) == sorted(f.sha256 for f in manifest.files)


@pytest.fixture
def restore_environ():
    """The CLI's --workspace option points Prefect/MLflow env vars at the workspace; undo that after the test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_cli_train_build_inspect_without_prefect(snapshot, restore_environ, capsys):
    from lmforge.flows.cli import main

    ws, snap = snapshot
    common = ["--workspace", str(ws)]
    assert main(["tokenizer", "train", "--snapshot", snap.name, "--vocab-size", "450", "--no-prefect", *common]) == 0
    tokenizer_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert (
        main(
            [
                "shards",
                "build",
                "--snapshot",
                snap.name,
                "--tokenizer",
                tokenizer_id,
                "--no-prefect",
                "--workers",
                "1",
                *common,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    shards_dir = Path(out.split()[2])
    assert "train:" in out and "val:" in out
    first = sorted(shards_dir.glob("train-*.bin"))[0]
    assert main(["shards", "inspect", str(first), *common]) == 0
    shown = capsys.readouterr().out
    assert "dtype uint16" in shown and "first document" in shown
    import pyarrow.parquet as pq

    from lmforge.schemas.shards import docs_path

    n_first = pq.read_table(docs_path(first), columns=["n_tokens"]).column(0)[0].as_py()
    assert f"first document: {n_first} tokens (EOS included)" in shown  # the count of the companion file
    # with BOS too (it was one short, BOS left out)
    bos = ws / "bos.toml"
    bos.write_text("[shards]\nadd_bos = true\n", encoding="utf-8")
    build = ["shards", "build", "--snapshot", snap.name, "--tokenizer", tokenizer_id, "--no-prefect", "--config"]
    assert main([*build, str(bos), "--workers", "1", *common]) == 0
    first = sorted(Path(capsys.readouterr().out.split()[2]).glob("train-*.bin"))[0]
    assert main(["shards", "inspect", str(first), *common]) == 0
    n_first = pq.read_table(docs_path(first), columns=["n_tokens"]).column(0)[0].as_py()
    assert f"first document: {n_first} tokens (BOS and EOS included)" in capsys.readouterr().out
    texts = {d["text"] for d in stdlib_docs(max_chars=70_000) + multilingual_docs()}
    assert shown.split("-" * 40 + "\n", 1)[1].rstrip("\n") in texts


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tokenizer", "train", "--snapshot", "nope", "--no-prefect"], "no finished snapshot 'nope'"),
        (["tokenizer", "train", "--snapshot", "SNAP", "--vocab-size", "100", "--no-prefect"], "use at least 271"),
        (["shards", "build", "--snapshot", "SNAP", "--tokenizer", "nope", "--no-prefect"], "no finished tokenizer"),
        # with Prefect: the ids are checked before it starts (no flow-run log lines, no ~10 s server start)
        (["tokenizer", "train", "--snapshot", "nope"], "no finished snapshot 'nope'"),
        (["shards", "build", "--snapshot", "SNAP", "--tokenizer", "nope"], "no finished tokenizer"),
    ],
)
def test_cli_errors_are_one_line_exit_2(snapshot, restore_environ, capsys, monkeypatch, args, message):
    import lmforge.flows.tokenizer as flows_tokenizer
    from lmforge.flows.cli import main

    def not_started(*args, **kwargs):
        raise AssertionError("a flow started before the ids were checked")

    monkeypatch.setattr(flows_tokenizer, "tokenizer_flow", not_started)
    monkeypatch.setattr(flows_tokenizer, "shards_flow", not_started)
    ws, snap = snapshot
    argv = [a.replace("SNAP", snap.name) for a in args] + ["--workspace", str(ws)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lmforge: error:") and message in err and "\n" not in err


@pytest.mark.parametrize("runner", ["dask", "thread"])
def test_shards_build_says_task_runner_is_ignored_without_prefect(snapshot, restore_environ, capsys, runner):
    """`--no-prefect` encodes in its own process pool: `--task-runner dask` was taken without a word and did nothing."""
    from lmforge.flows.cli import main

    ws, snap = snapshot
    argv = ["shards", "build", "--snapshot", snap.name, "--tokenizer", "nope", "--no-prefect", "--task-runner", runner]
    assert main([*argv, "--workspace", str(ws)]) == 2  # stopped by the unknown tokenizer, after the option checks
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (
        "lmforge: warning: --task-runner is Prefect's: ignored with --no-prefect, which encodes in a process pool "
        "of --workers"
    )
    assert lines[1].startswith("lmforge: error: no finished tokenizer") and len(lines) == 2
    assert main([*argv[:-2], "--workspace", str(ws)]) == 2  # not given: nothing to say about it
    assert "warning" not in capsys.readouterr().err


def test_tokenizer_report_of_a_folder_that_is_no_tokenizer_is_one_line(snapshot, tmp_path, restore_environ, capsys):
    """A snapshot folder given as TOKENIZER (or a tokenizer manifest that names no snapshot) was a `KeyError:
    'snapshot'` traceback."""
    import json
    import shutil

    from lmforge.flows.cli import main
    from lmforge.pipeline.tokenize.trainer import train_tokenizer

    ws, snap = snapshot
    assert main(["tokenizer", "report", str(snap), "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"lmforge: error: {snap} holds a 'lmforge.snapshot' manifest, not a tokenizer's; give a tokenizer id or folder"
    )
    tokenizer = train_tokenizer(snap, tmp_path, CONFIG)
    copy = shutil.copytree(tokenizer, tmp_path / "copy" / tokenizer.name)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    del manifest["inputs"]["snapshot"]
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["tokenizer", "report", str(copy), "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lmforge: error: {copy / 'manifest.json'}: no inputs.snapshot") and "\n" not in err
    assert main(["tokenizer", "report", str(copy), "--snapshot", snap.name, "--workspace", str(ws)]) == 0
    assert capsys.readouterr().out.startswith(f"# Tokenizer `{tokenizer.name}`")


def test_shards_inspect_of_a_folder_named_like_a_shard_is_one_line(tmp_path, restore_environ, capsys):
    from lmforge.flows.cli import main

    odd = tmp_path / "train-00000.bin"
    odd.mkdir()
    for path in (odd, tmp_path):  # the odd folder itself, and a folder whose only "*.bin" is that folder
        assert main(["shards", "inspect", str(path), "--workspace", str(tmp_path / "ws")]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and f"Invalid value for PATH: {path} holds no .bin shards" in err


def test_shards_inspect_of_a_shard_with_ids_past_the_vocabulary_is_one_line(
    snapshot, tmp_path, restore_environ, capsys
):
    """Bytes damaged after the header (same size, so the header check passes): an id the tokenizer does not have
    is reported as a damaged shard, not as sentencepiece's IndexError."""
    from lmforge.flows.cli import main
    from lmforge.pipeline.tokenize.shards import build_shards
    from lmforge.pipeline.tokenize.trainer import train_tokenizer
    from lmforge.schemas.shards import HEADER_SIZE

    ws, snap = snapshot
    tokenizer = train_tokenizer(snap, ws, CONFIG)
    shard = sorted(build_shards(snap, tokenizer, ws, ShardsConfig(), workers=1).glob("train-*.bin"))[0]
    damaged = tmp_path / shard.name
    data = bytearray(shard.read_bytes())
    data[HEADER_SIZE : HEADER_SIZE + 4] = b"\xff\xff\xff\xff"  # two uint16 ids 65535 at the start of document 1
    damaged.write_bytes(bytes(data))
    assert main(["shards", "inspect", str(damaged), "--tokenizer", str(tokenizer), "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{damaged}: token id 65535 is outside the vocabulary of tokenizer" in err


def test_shards_inspect_with_another_stage_as_tokenizer_is_one_line(snapshot, restore_environ, capsys):
    """`--tokenizer` naming a snapshot folder (any finished stage folder is found by its path) was a
    FileNotFoundError traceback about `<snapshot>/tokenizer.model`."""
    from lmforge.flows.cli import main
    from lmforge.pipeline.tokenize.shards import build_shards
    from lmforge.pipeline.tokenize.trainer import train_tokenizer

    ws, snap = snapshot
    tokenizer = train_tokenizer(snap, ws, CONFIG)
    shard = sorted(build_shards(snap, tokenizer, ws, ShardsConfig(), workers=1).glob("train-*.bin"))[0]
    assert main(["shards", "inspect", str(shard), "--tokenizer", str(snap), "--workspace", str(ws)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"lmforge: error: {snap}: manifest format 'lmforge.snapshot' is not 'lmforge.tokenizer'"
    ), err
    assert "Traceback" not in err


def test_cli_says_when_a_char_model_is_smaller_than_asked(snapshot, restore_environ, capsys):
    """A char model has one piece per distinct character: the line said `vocab 351` as if that had been asked for."""
    from lmforge.flows.cli import main

    ws, snap = snapshot
    args = ["tokenizer", "train", "--snapshot", snap.name, "--model-type", "char", "--vocab-size", "5000"]
    assert main([*args, "--no-prefect", "--workspace", str(ws)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert "(asked for 5000: the sample has no more characters)" in line and "char" in line
    assert int(line.split()[1]) < 5000
