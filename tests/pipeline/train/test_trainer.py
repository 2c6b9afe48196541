"""The trainer on real tiny shards: learning, both model kinds, bf16, accumulation, non-finite loss, MLflow."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.checkpoint import list_checkpoints
from lmforge.pipeline.train.optim import lr_factor
from lmforge.pipeline.train.trainer import NonFiniteLossError, Trainer
from lmforge.schemas.shards import open_tokens, read_header
from tests.support.training import steps, tiny_config


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.parametrize("kind", ["gpt", "lstm"])
def test_loss_goes_down(shards_dir: Path, run_dir: Path, kind: str) -> None:
    config = tiny_config(model={"kind": kind}, max_steps=40, tracking={"eval_every": 20})
    result = Trainer(config, shards_dir, run_dir).fit()
    losses = [r["loss"] for r in steps(run_dir)]
    assert len(losses) == 40 and result.step == 40 and result.tokens_seen == 40 * 4 * 64
    assert mean(losses[-5:]) < mean(losses[:5]) - 0.5  # from ~ln(300) = 5.7 towards the unigram level and below
    assert result.val_loss is not None and result.val_loss < losses[0]
    assert [p.name for p in list_checkpoints(run_dir)] == ["step-00000035", "step-00000040"]  # keep = 2
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["step"] == 40
    assert (run_dir / "manifest.json").is_file()


def test_bf16_autocast_trains(shards_dir: Path, run_dir: Path) -> None:
    result = Trainer(tiny_config(dtype="bf16", max_steps=10), shards_dir, run_dir).fit()
    losses = [r["loss"] for r in steps(run_dir)]
    assert result.step == 10 and all(loss == loss for loss in losses) and losses[-1] < losses[0]


def test_grad_accumulation_matches_the_bigger_batch(shards_dir: Path, tmp_path: Path) -> None:
    runs = shards_dir.parent.parent / "runs"
    big = Trainer(tiny_config(data={"batch_size": 8}, max_steps=6), shards_dir, runs / f"{tmp_path.name}-a")
    acc = Trainer(tiny_config(grad_accum=2, max_steps=6), shards_dir, runs / f"{tmp_path.name}-b")
    big.fit(), acc.fit()
    a = [r["loss"] for r in steps(big.run_dir)]
    b = [r["loss"] for r in steps(acc.run_dir)]
    assert a == pytest.approx(b, rel=1e-4)
    for p, q in zip(big.model.parameters(), acc.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(shards_dir: Path, run_dir: Path) -> None:
    trainer = Trainer(tiny_config(max_steps=20), shards_dir, run_dir)

    def poison(module, args, output):  # a real forward hook: the loss turns NaN from step 8 on
        logits, loss = output
        return (logits, loss * float("nan")) if trainer.state.step >= 7 else output

    trainer.model.register_forward_hook(poison)
    with pytest.raises(NonFiniteLossError, match="step 8: loss nan"):
        trainer.fit()
    assert [p.name for p in list_checkpoints(run_dir)] == ["step-00000005"]
    good = torch.load(list_checkpoints(run_dir)[-1] / "model.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in good.values())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"  # not marked finished


def test_a_val_split_too_small_to_evaluate_fails_before_training(shards_dir: Path, tmp_path: Path) -> None:
    # A tiny corpus can send one short document to val; finding out at the first evaluation (before that step's
    # checkpoint) loses every step trained so far, and a resume fails the same way.
    ws = tmp_path / "ws"
    shutil.copytree(shards_dir.parent.parent / "tokenizers", ws / "tokenizers")
    small = ws / "shards" / shards_dir.name
    shutil.copytree(shards_dir, small)
    val = small / "val-00000.bin"
    header = read_header(val)
    tokens = np.asarray(open_tokens(val))[:40]
    val.write_bytes(dataclasses.replace(header, token_count=len(tokens), doc_count=1).pack() + tokens.tobytes())
    config = tiny_config(max_steps=10, tracking={"eval_every": 5})
    with pytest.raises(
        ConfigError, match=r"val split has 40 tokens, too few for one window of \d+ tokens; lower train\.data\.seq_len"
    ):
        Trainer(config, small, ws / "runs" / "r")
    Trainer(tiny_config(max_steps=1), small, ws / "runs" / "no-eval").fit()  # without evaluation it trains


def test_shards_without_a_val_split_name_eval_every(tmp_path: Path) -> None:
    """Shards built with `shards.val_fraction = 0` have no val split; with evaluation on, the trainer called that a
    damaged manifest (IntegrityError) and did not say that turning evaluation off trains on them."""
    from tests.support.shards import make_shards

    shards = make_shards(tmp_path / "ws")
    (shards / "val-00000.bin").unlink()
    manifest = json.loads((shards / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = [f for f in manifest["files"] if not f["path"].startswith("val-")]
    (shards / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no val split.*val_fraction.*train\.tracking\.eval_every = 0"):
        Trainer(tiny_config(max_steps=1, tracking={"eval_every": 5}), shards, tmp_path / "ws" / "runs" / "r")
    Trainer(tiny_config(max_steps=1), shards, tmp_path / "ws" / "runs" / "no-eval").fit()  # without evaluation


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_names_the_field(shards_dir: Path, run_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.device: 'cuda:0', but torch sees 0 CUDA device"):
        Trainer(tiny_config(device="cuda"), shards_dir, run_dir)


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    f = [lr_factor(s, warmup=10, total=100, floor=0.1) for s in range(101)]
    assert f[0] < f[5] < f[9] < 1.0 and f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False)) and f[100] == pytest.approx(0.1)


def test_mlflow_run_logs_metrics_params_plot_and_samples(shards_dir: Path, run_dir: Path, monkeypatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the workspace default: sqlite + mlartifacts
    from lmforge.pipeline.tracking.mlflow_run import tracking_uri

    config = tiny_config(
        max_steps=10, tracking={"mlflow": True, "eval_every": 5, "sample_tokens": 8, "system_metrics": False}
    )
    result = Trainer(config, shards_dir, run_dir).fit()
    ws = shards_dir.parent.parent
    assert (
        result.mlflow_run_id and json.loads((run_dir / "run.json").read_text())["mlflow_run_id"] == result.mlflow_run_id
    )
    client = MlflowClient(tracking_uri(ws))
    run = client.get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["optim.lr"] == "0.003" and run.data.params["model.gpt.n_layer"] == "2"
    assert run.data.tags["lmforge.shards"] == "shards0000000000"
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "val_loss", "val_ppl"} <= set(run.data.metrics)
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 10
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"loss_curve.png", "samples.json"} <= artifacts
    assert (ws / "mlartifacts").is_dir()


def test_an_experiment_deleted_mid_run_is_one_warning_and_training_finishes(
    shards_dir: Path, run_dir: Path, tmp_path: Path, monkeypatch, caplog
) -> None:
    """Deleting the experiment in the UI while a run trains: the run finishes, checkpoints and metrics.jsonl as
    before, with one warning that says the MLflow run was deleted (it said the store did not answer and would get the
    metrics later, then warned again for the loss plot, the samples, closing the run and the metrics it lacked)."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking = {"mlflow": True, "eval_every": 5, "log_every": 2, "sample_tokens": 4, "system_metrics": False}
    trainer = Trainer(tiny_config(max_steps=10, tracking=tracking), shards_dir, run_dir)
    step = trainer.train_step

    def delete_after_step_4() -> tuple[float, float]:
        if trainer.state.step == 4:
            client = MlflowClient()
            client.delete_experiment(client.get_run(trainer.tracker.run_id).info.experiment_id)
        return step()

    monkeypatch.setattr(trainer, "train_step", delete_after_step_4)
    with caplog.at_level(logging.WARNING):
        result = trainer.fit()
    assert result.step == 10 and [r["step"] for r in steps(run_dir)] == list(range(1, 11))
    assert [p.name for p in list_checkpoints(run_dir)] == ["step-00000005", "step-00000010"]
    assert (run_dir / "manifest.json").is_file()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "MLflow" in r.getMessage()]
    assert len(warnings) == 1 and "was deleted while training (its experiment 'lmforge'" in warnings[0], warnings
    history = MlflowClient().get_metric_history(result.mlflow_run_id, "loss")
    assert [m.step for m in history] == [1, 2, 3, 4]


def test_the_logged_lr_is_the_one_each_step_applied(shards_dir: Path, run_dir: Path) -> None:
    """metrics.jsonl's lr at step s is what the optimizer used for update s: warmup starts at lr/(warmup+1), and the
    last step does not show the floor the schedule would only reach one step later."""
    config = tiny_config(max_steps=10, optim={"lr": 1e-3, "warmup_steps": 4})
    trainer = Trainer(config, shards_dir, run_dir)
    applied: list[float] = []
    trainer.optimizer.register_step_pre_hook(lambda opt, args, kwargs: applied.append(opt.param_groups[0]["lr"]))
    trainer.fit()
    logged = [row["lr"] for row in steps(run_dir)]
    assert logged == applied
    assert logged[0] == pytest.approx(1e-3 * lr_factor(0, warmup=4, total=10, floor=0.1))


def test_a_non_finite_loss_before_any_checkpoint_does_not_claim_one(shards_dir: Path, run_dir: Path) -> None:
    trainer = Trainer(tiny_config(max_steps=20), shards_dir, run_dir)

    def poison(module, args, output):
        logits, loss = output
        return logits, loss * float("nan")

    trainer.model.register_forward_hook(poison)
    with pytest.raises(NonFiniteLossError, match="step 1: loss nan") as info:
        trainer.fit()
    assert "no checkpoint" in str(info.value) and "kept" not in str(info.value)
    assert "\n" not in str(info.value)


def _each_val_window_once(trainer: Trainer, shards_dir: Path) -> tuple[float, int]:
    """(mean loss per token, windows) of the model over every seq_len window of the val stream, each once."""
    tokens = np.asarray(open_tokens(shards_dir / "val-00000.bin"), dtype=np.int64)
    t = trainer.config.data.seq_len
    n = (len(tokens) - 1) // t
    chunk = torch.from_numpy(np.stack([tokens[i * t : i * t + t + 1] for i in range(n)]))
    trainer.model.eval()
    with torch.no_grad():
        logits, _ = trainer.model(chunk[:, :-1])
    nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum")
    return nll.item() / (n * t), n


@pytest.mark.parametrize("eval_batches", [2, 1000])
def test_validation_scores_each_val_window_once(shards_dir: Path, run_dir: Path, eval_batches: int) -> None:
    """eval_batches past what the val split holds (117 windows, 30 batches of 4 here) cycled through the split
    again, and the last batch was filled up with windows from its start: the val loss averaged repeated windows."""
    config = tiny_config(max_steps=3, tracking={"eval_every": 3, "eval_batches": eval_batches})
    trainer = Trainer(config, shards_dir, run_dir)
    trainer.fit()
    expected, windows = _each_val_window_once(trainer, shards_dir)
    info = json.loads((run_dir / "run.json").read_text())
    if eval_batches >= 30:
        assert trainer.val_history[-1][1] == pytest.approx(expected, rel=1e-5)
        assert (info["val_windows"], info["val_tokens"]) == (windows, windows * 64)
    else:  # a part of the split: 2 batches of 4 windows
        assert (info["val_windows"], info["val_tokens"]) == (8, 8 * 64)


def test_a_warmup_longer_than_the_run_trains_with_a_warning(shards_dir: Path, run_dir: Path, caplog) -> None:
    """It was accepted silently: the lr climbed for the whole run and never reached train.optim.lr."""
    with caplog.at_level(logging.WARNING, logger="lmforge.pipeline.train.trainer"):
        result = Trainer(tiny_config(max_steps=3), shards_dir, run_dir).fit()  # warmup_steps = 5
    assert result.step == 3
    warned = [r.getMessage() for r in caplog.records if "warmup_steps" in r.getMessage()]
    assert len(warned) == 1 and "train.optim.warmup_steps (5) ≥ train.max_steps (3)" in warned[0]
    assert steps(run_dir)[-1]["lr"] == pytest.approx(3e-3 * 3 / 6)  # still climbing at the last step
