"""Training defects found in a hunt: a finished run folder copied, advice that leads back to its own error, a
vocabulary change on resume, a stopped run left RUNNING in MLflow, and more."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lmforge.pipeline.errors import IntegrityError, LmforgeError
from lmforge.pipeline.train.checkpoint import list_checkpoints
from lmforge.pipeline.train.launch import torchrun_command, write_config
from lmforge.pipeline.train.trainer import Trainer
from tests.support.training import steps, tiny_config, worker_env

TRACKED = {"mlflow": True, "eval_every": 5, "sample_tokens": 0, "system_metrics": False}


def _own_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def _loss_steps(run_id: str, key: str = "loss") -> list[int]:
    from mlflow import MlflowClient

    return sorted(m.step for m in MlflowClient().get_metric_history(run_id, key))


def _run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text(encoding="utf-8"))


# -- 1. a copy of a finished run folder ------------------------------------------------------------------------------
def test_a_copy_of_a_finished_run_folder_gets_an_mlflow_run_of_its_own(shards_dir: Path, tmp_path: Path, monkeypatch):
    """`cp -r runs/A runs/B` of a finished A, then training B: B returned (and its run.json and manifest kept) A's
    MLflow run id, so registering B reopened A's MLflow run. An unfinished copy already forked; a finished one now
    forks the same way (its own MLflow run, tagged with A's), and A's run is left as it was."""
    from mlflow import MlflowClient

    _own_store(monkeypatch, tmp_path)
    config = tiny_config(max_steps=5, tracking=TRACKED)
    runs = shards_dir.parent.parent / "runs"
    a, b = runs / f"{tmp_path.name}-a", runs / f"{tmp_path.name}-b"
    first = Trainer(config, shards_dir, a).fit()
    a_id = first.mlflow_run_id
    assert a_id and _loss_steps(a_id) == [1, 2, 3, 4, 5]

    shutil.copytree(a, b)
    copy = Trainer(config, shards_dir, b).fit()
    assert copy.mlflow_run_id and copy.mlflow_run_id != a_id
    assert (copy.step, copy.train_loss, copy.val_loss) == (5, first.train_loss, first.val_loss)
    info = _run_json(b)
    assert info["mlflow_run_id"] == copy.mlflow_run_id and info["run_dir"] == str(b.resolve())
    manifest = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"] == b.name and manifest["stats"]["mlflow_run_id"] == copy.mlflow_run_id

    client = MlflowClient()
    forked = client.get_run(copy.mlflow_run_id)
    assert forked.info.status == "FINISHED"
    assert forked.data.tags["lmforge.copied_from_mlflow_run"] == a_id
    assert _loss_steps(copy.mlflow_run_id) == [1, 2, 3, 4, 5]  # from B's metrics.jsonl
    assert _loss_steps(copy.mlflow_run_id, "val_loss") == [5]  # its final val loss, as the run's own record
    assert _loss_steps(a_id) == [1, 2, 3, 4, 5] and _run_json(a)["mlflow_run_id"] == a_id  # A untouched

    again = Trainer(config, shards_dir, b).fit()  # the fork is B's own now: no third MLflow run
    assert again.mlflow_run_id == copy.mlflow_run_id
    assert Trainer(config, shards_dir, a).fit().mlflow_run_id == a_id


# -- 2. advice that leads back to its own error ----------------------------------------------------------------------
def test_the_advice_for_a_changed_config_does_not_lead_back_to_it(shards_dir: Path, run_dir: Path, tmp_path: Path):
    """A run folder with checkpoints of another config said "start a new run without --resume"; without it, the
    trainer said "resume it (--resume)", which led back to the first error. Each piece of advice now works."""
    config = tiny_config(max_steps=5)
    changed = tiny_config(max_steps=5, optim={"lr": 1e-3})
    Trainer(config, shards_dir, run_dir).fit(until=5)  # checkpoint at 5, no manifest
    for resume in (True, False):
        with pytest.raises(LmforgeError) as raised:
            Trainer(changed, shards_dir, run_dir, resume=resume)
        message = str(raised.value)
        assert "changed: train.optim.lr" in message, message
        assert "without --resume" not in message and "(--resume)" not in message, message
        assert "new run folder" in message and f"delete {run_dir}" in message, message
    # "train this config into a new run folder"
    assert Trainer(changed, shards_dir, run_dir.with_name(run_dir.name + "-new")).fit().step == 5
    # "resume with the config it was trained with"
    assert Trainer(config, shards_dir, run_dir).fit().step == 5
    # "delete the run folder to start it over"
    shutil.rmtree(run_dir)
    assert Trainer(changed, shards_dir, run_dir).fit().step == 5


def test_the_advice_for_existing_checkpoints_without_resume_works(shards_dir: Path, run_dir: Path) -> None:
    """Said "resume it (--resume)": the worker that prints it (`python -m lmforge.pipeline.train.launch`) had no
    --resume option, so following the advice there was a usage error."""
    from lmforge.pipeline.train.launch import _parse

    config = tiny_config(max_steps=6)
    Trainer(config, shards_dir, run_dir).fit(until=5)
    with pytest.raises(LmforgeError, match=r"--resume") as raised:
        Trainer(config, shards_dir, run_dir, resume=False)
    assert f"delete {run_dir}" in str(raised.value)
    args = _parse(["--shards-dir", str(shards_dir), "--run-dir", str(run_dir), "--resume"])
    assert not args.no_resume
    assert Trainer(config, shards_dir, run_dir, resume=not args.no_resume).fit().step == 6


# -- 3. a vocabulary change on resume --------------------------------------------------------------------------------
def _private_workspace(shards_dir: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(shards_dir.parent.parent / "tokenizers", ws / "tokenizers")
    shutil.copytree(shards_dir, ws / "shards" / shards_dir.name)
    return ws / "shards" / shards_dir.name


def test_a_vocabulary_change_on_resume_names_both_sizes(shards_dir: Path, tmp_path: Path) -> None:
    """The tokenizer file gone and the shards manifest recording another vocab size: the resume failed loading the
    weights, with advice to delete the checkpoint (the one before it has the same vocabulary). It now names both
    sizes before loading anything, and says to train into a new run folder."""
    shards = _private_workspace(shards_dir, tmp_path)
    run = shards.parent.parent / "runs" / "r"
    config = tiny_config(max_steps=6)
    Trainer(config, shards, run).fit(until=5)
    tok = shards.parent.parent / "tokenizers"
    shutil.rmtree(tok)
    manifest = json.loads((shards / "manifest.json").read_text(encoding="utf-8"))
    manifest["params"]["vocab_size"] = 320
    (shards / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(LmforgeError) as raised:
        Trainer(config, shards, run)
    message = str(raised.value)
    assert "300" in message and "320" in message, message
    assert "new run folder" in message and "delete" not in message, message
    assert not message.startswith(str(run / "checkpoints" / "step-00000005" / "model.pt")), message
    assert Trainer(config, shards, run.with_name("r-new")).fit().step == 6  # the advice works


# -- 4. a stopped run in MLflow --------------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_torchrun_ends_the_mlflow_run_as_killed(shards_dir: Path, tmp_path: Path, signum: int) -> None:
    """torchrun forwards SIGTERM/SIGINT to its workers (and `lmforge train` sends SIGTERM on Ctrl-C): a SIGTERM
    killed the worker without ending its MLflow run, which stayed RUNNING for good. Now it ends KILLED, and the
    run resumes from its last checkpoint into the same MLflow run."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = shards_dir.parent.parent / "runs" / f"{tmp_path.name}-sig"
    config = tiny_config(max_steps=100_000, checkpoint={"every": 3}, tracking={**TRACKED, "eval_every": 0})
    write_config(run, config)
    cmd = torchrun_command(shards_dir=shards_dir, run_dir=run, nproc=1)
    env = {**worker_env(), "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if list_checkpoints(run) and steps(run) and steps(run)[-1]["step"] >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:] if proc.stdout else ""
        os.kill(proc.pid, signum)  # torchrun alone: it forwards the signal to its workers
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    run_id = _run_json(run)["mlflow_run_id"]
    status = MlflowClient(tracking_uri=uri).get_run(run_id).info.status
    assert status == "KILLED", (status, out.decode()[-3000:])
    assert list_checkpoints(run), "the last checkpoint is kept"


# -- more: checkpoints, sampling -------------------------------------------------------------------------------------
def test_inference_from_a_run_folder_whose_newest_checkpoint_is_damaged_says_so(shards_dir: Path, run_dir: Path):
    """`lmforge generate`/`evaluate` (and `lmforge run`'s evaluation) of a run folder whose newest checkpoint lost its
    meta.json silently used the checkpoint before it: an older model, reported as the run's. A resume already
    refused it; inference now does too, and a checkpoint folder named explicitly still loads."""
    from lmforge.pipeline.train.checkpoint import load_for_inference

    Trainer(tiny_config(max_steps=10), shards_dir, run_dir).fit()
    older, newest = list_checkpoints(run_dir)
    (newest / "meta.json").unlink()
    with pytest.raises(IntegrityError, match="missing, so the checkpoint is damaged") as raised:
        load_for_inference(run_dir)
    assert str(raised.value).endswith(f"delete {newest} to fall back to {older.name}")
    _, config, _ = load_for_inference(older)
    assert config.max_steps == 10


def test_token_ids_outside_the_models_vocabulary_are_named(tmp_path: Path) -> None:
    """A prompt id (or eos_id) past the embedding crashed generation with a bare `IndexError: index out of range in
    self`; a tokenizer of another size than the model's vocabulary crashed it the same way (or in decoding)."""
    import sentencepiece as spm

    from lmforge.pipeline.errors import ConfigError
    from lmforge.pipeline.train.models import build_model
    from lmforge.pipeline.train.sample import generate, generate_text
    from tests.support.shards import VOCAB, tokenizer_bytes

    for kind in ("gpt", "lstm"):
        model = build_model(tiny_config(model={"kind": kind}).model, VOCAB)
        for ids in ([VOCAB], [-1], [5, VOCAB + 7]):
            with pytest.raises(ConfigError, match=r"prompt: token id -?\d+ is outside the model's vocabulary"):
                generate(model, ids, max_new_tokens=2, seed=0)
        with pytest.raises(ConfigError, match=rf"eos_id: token id {VOCAB} is outside"):
            generate(model, [], max_new_tokens=2, eos_id=VOCAB)
        assert len(generate(model, [VOCAB - 1], max_new_tokens=2, seed=0)) == 2
    sp = spm.SentencePieceProcessor(model_proto=tokenizer_bytes())
    small = build_model(tiny_config().model, VOCAB - 20)
    with pytest.raises(ConfigError, match=rf"tokenizer: {VOCAB} pieces, but the model's vocabulary holds {VOCAB - 20}"):
        generate_text(small, sp, "Return the", max_new_tokens=4, seed=0)
    assert isinstance(generate_text(build_model(tiny_config().model, VOCAB), sp, "Return", max_new_tokens=4), str)
