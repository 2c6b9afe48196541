"""The trainer: build everything from a TrainConfig, then a short loop (torchtitan style).

One process per device, launched by torchrun (see `launch.py`), or in-process as world size 1 (tests). Rank 0
alone writes `metrics.jsonl`, `run.json` and MLflow; every rank takes part in checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from lmforge.pipeline.configuring import to_dict
from lmforge.pipeline.curate.inputs import safe_name
from lmforge.pipeline.digest import code_version
from lmforge.pipeline.errors import LmforgeError
from lmforge.pipeline.stage import is_done, write_manifest
from lmforge.pipeline.tracking.mlflow_run import Tracker, tracking_uri
from lmforge.pipeline.train import distributed as D
from lmforge.pipeline.train.checkpoint import Checkpoint, TrainState, list_checkpoints, remove_stale_tmp, unwrap
from lmforge.pipeline.train.config import TrainConfig
from lmforge.pipeline.train.loader import ShardLoader, shards_info
from lmforge.pipeline.train.models import build_model
from lmforge.pipeline.train.optim import build_optimizer, lr_factor, seed_everything
from lmforge.pipeline.train.signals import StopSignals
from lmforge.pipeline.urls import shown_url

log = logging.getLogger(__name__)

RUN_JSON = "run.json"
METRICS = "metrics.jsonl"


class NonFiniteLossError(LmforgeError):
    """The loss or gradient norm became NaN/inf; the run stops before the bad update, last checkpoint kept."""


@dataclass(frozen=True, slots=True)
class Validation:
    """One validation pass: mean loss per token (nats) over `tokens` target tokens in `windows` val windows."""

    loss: float
    windows: int
    tokens: int


@dataclass(frozen=True, slots=True)
class TrainResult:
    run_dir: Path
    step: int
    tokens_seen: int
    train_loss: float | None
    val_loss: float | None
    mlflow_run_id: str | None
    resumed_from: int | None


class Trainer:
    """Everything one rank needs to train: model, optimizer, schedule, loader, checkpoint, tracker."""

    def __init__(
        self,
        config: TrainConfig,
        shards_dir: str | Path,
        run_dir: str | Path,
        *,
        resume: bool = True,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.config, self.shards_dir, self.run_dir = config, Path(shards_dir), Path(run_dir)
        self.world = w = D.init_world(config.device)
        self.device = w.device
        self.shards_id, self.tokenizer, self.vocab_size = shards_info(self.shards_dir)
        self.tags = dict(tags or {})
        seed_everything(config.seed)  # same init on every rank
        self.model = build_model(config.model, self.vocab_size).to(self.device)
        self.wrapped = self._parallelize(self.model)
        self.optimizer = build_optimizer(self.model, config.optim, self.device)
        factor = partial(
            lr_factor, warmup=config.optim.warmup_steps, total=config.max_steps, floor=config.optim.min_lr_ratio
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.loader = ShardLoader(
            self.shards_dir,
            "train",
            batch_size=config.data.batch_size,
            seq_len=config.data.seq_len,
            rank=w.rank,
            world_size=w.world_size,
            seed=config.seed,
            drop_last=config.data.drop_last,
            expect_tokenizer=self.tokenizer["sha256"],
            vocab_size=self.vocab_size,
        )
        if config.tracking.eval_every:
            self._val_loader()  # a val split too small for one batch is an error now, not after eval_every steps
        self.state = TrainState()
        self.checkpoint = Checkpoint(
            self.run_dir,
            world=w,
            model=self.wrapped,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            loader=self.loader,
            state=self.state,
            config=config,
            shards_id=self.shards_id,
            vocab_size=self.vocab_size,
            tokenizer=self.tokenizer,
        )
        seed_everything(config.seed + w.rank)  # dropout differs per rank; restored from the checkpoint on resume
        self.resumed_from: int | None = None
        if w.is_main:
            remove_stale_tmp(self.run_dir)  # before any save of this run can make one
            for warning in config.warnings():
                log.warning("%s", warning)
        if resume:
            found = self.checkpoint.load_latest()
            self.resumed_from = self.state.step if found else None
            if found:
                log.info("resuming from checkpoint %s (step %d)", found, self.state.step)
        elif found := self.checkpoint.check_latest():  # another config's checkpoints: that error, with its advice
            raise LmforgeError(
                f"{self.run_dir}: holds checkpoints of this run (the newest: {found.name}); resume from them "
                f"(`lmforge train … --resume`; the worker resumes unless given --no-resume), or delete {self.run_dir} "
                "to train it over from step 0"
            )
        self.tracker = Tracker(
            self.run_dir.parent.parent,
            enabled=config.tracking.mlflow and w.is_main,
            experiment=config.tracking.experiment,
            system_metrics=config.tracking.system_metrics,
        )
        self.history: list[tuple[int, float]] = []
        self.val_history: list[tuple[int, float]] = []
        self.last_val: Validation | None = None
        self._told_val_size = False

    def _parallelize(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.config.parallel == "fsdp" and self.world.distributed:
            from torch.distributed.fsdp import fully_shard

            for block in getattr(model, "blocks", []):  # shard per block so gathers overlap compute (torchtitan)
                fully_shard(block)
            fully_shard(model)
            wrapped: torch.nn.Module = model
        elif self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        else:
            wrapped = model
        return torch.compile(wrapped) if self.config.compile else wrapped

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.dtype == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _sync(self, enabled: bool) -> contextlib.AbstractContextManager:
        """Let DDP/FSDP reduce gradients only on the last micro-batch of a step."""
        inner = (
            unwrap(self.wrapped) if self.config.parallel == "fsdp" else getattr(self.wrapped, "_orig_mod", self.wrapped)
        )
        if isinstance(inner, torch.nn.parallel.DistributedDataParallel) and not enabled:
            return inner.no_sync()
        if hasattr(inner, "set_requires_gradient_sync"):
            inner.set_requires_gradient_sync(enabled)
        return contextlib.nullcontext()

    # -- one step ---------------------------------------------------------------------------------------------------
    def train_step(self) -> tuple[float, float]:
        accum = self.config.grad_accum
        total = torch.zeros((), device=self.device)
        for micro in range(accum):
            x, y = (t.to(self.device, non_blocking=True) for t in self.loader.next_batch())
            with self._sync(micro == accum - 1), self._autocast():
                _, loss = self.wrapped(x, y)
            (loss / accum).backward()
            total += loss.detach().float()
        clip = self.config.optim.grad_clip or float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
        stats = D.all_reduce_mean(torch.stack([total / accum, norm.float()]))
        loss_value, norm_value = stats.tolist()
        if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
            found = list_checkpoints(self.run_dir)
            kept = f"the last good checkpoint is {found[-1]}" if found else "no checkpoint was written yet"
            raise NonFiniteLossError(
                f"step {self.state.step + 1}: loss {loss_value} / grad norm {norm_value} is not finite; stopped "
                f"before applying it ({kept}). Lower train.optim.lr, raise train.optim.warmup_steps or use "
                'train.dtype = "fp32" (a changed config trains a new run from step 0)'
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.tokens_seen += self.config.tokens_per_step * self.world.world_size
        return loss_value, norm_value

    def _val_loader(self) -> ShardLoader:
        """The val split from its first window, unshuffled, every window scored."""
        return ShardLoader(
            self.shards_dir,
            "val",
            batch_size=self.config.data.batch_size,
            seq_len=self.config.data.seq_len,
            rank=self.world.rank,
            world_size=self.world.world_size,
            shuffle=False,
            drop_last=False,
            expect_tokenizer=self.tokenizer["sha256"],
            vocab_size=self.vocab_size,
        )

    @torch.no_grad()
    def evaluate(self) -> Validation:
        """Mean validation loss per token over the first `eval_batches` micro-batches per rank (disjoint across ranks),
        each val window scored once: a split with fewer batches is scored whole, and the rows the last batch repeats
        from the split's start to fill itself are left out (both used to be averaged in again)."""
        loader = self._val_loader()
        batches = min(self.config.tracking.eval_batches, loader.batches_per_epoch)
        if batches < self.config.tracking.eval_batches and not self._told_val_size:
            self._told_val_size = True
            log.info(
                "the val split holds %d window(s) of %d tokens, %d batch(es) per rank: each is scored once per "
                "evaluation (train.tracking.eval_batches = %d asks for more)",
                loader.num_windows,
                loader.seq_len,
                batches,
                self.config.tracking.eval_batches,
            )
        self.model.eval()
        # (nll sum in nats, windows, tokens): sums, so that ranks scoring fewer rows weigh less in the mean
        totals = torch.zeros(3, dtype=torch.float64, device=self.device)
        for b in range(batches):
            fresh = loader.fresh_rows(b)
            x, y = (t.to(self.device) for t in loader.next_batch())
            with self._autocast():
                logits, _ = self.model(x)  # (B, T, V); every rank runs the whole batch: FSDP gathers in forward
            nll = F.cross_entropy(logits[:fresh].float().flatten(0, 1), y[:fresh].flatten(), reduction="sum")
            totals[0] += nll.double()
            totals[1] += fresh
            totals[2] += fresh * loader.seq_len
        self.model.train()
        D.all_reduce_sum(totals)
        nll_sum, windows, tokens = totals.tolist()
        return Validation(loss=nll_sum / tokens, windows=int(windows), tokens=int(tokens))

    def _validate(self, step: int, *, again: bool = False) -> float:
        """Evaluate, and record it (history, MLflow, log) at `step`. `again`: the final loss of a run trained already,
        whose history holds it; MLflow gets it only where the run lacks it (a copied run folder's new MLflow run)."""
        result = self.last_val = self.evaluate()
        ppl = math.exp(min(result.loss, 50.0))
        self.tracker.log_metrics({"val_loss": result.loss, "val_ppl": ppl, "val_tokens": result.tokens}, step)
        if not again:
            self.val_history.append((step, result.loss))
            if self.world.is_main:
                log.info(
                    "step %d val loss %.4f ppl %.2f (%d windows, %d tokens)",
                    step,
                    result.loss,
                    ppl,
                    result.windows,
                    result.tokens,
                )
        return result.loss

    # -- the loop ---------------------------------------------------------------------------------------------------
    def fit(self, until: int | None = None) -> TrainResult:
        """Train to `max_steps` (or stop after step `until`, without a checkpoint: an interruption, for tests)."""
        if is_done(self.run_dir) and self.state.step >= self.config.max_steps and not self._forks():
            return self._result(None, None)
        with StopSignals() as signals:
            self.tracker.guard = signals.deferred
            try:
                return self._fit(until, signals)
            finally:
                self.tracker.guard = contextlib.nullcontext

    def _forks(self) -> bool:
        """Whether this finished run folder is a copy (see `_copied_from`), on every rank as rank 0 found it: a copy
        forks into an MLflow run of its own, as an unfinished copy does, and records it in run.json and manifest."""
        copied = self.world.is_main and self._copied_from(self.read_run_json(self.run_dir)) is not None
        return bool(D.broadcast_object(copied))

    def _fit(self, until: int | None, signals: StopSignals) -> TrainResult:
        cfg, w = self.config, self.world
        tcfg = cfg.tracking
        loss = val = None
        t0, tokens0 = time.perf_counter(), self.state.tokens_seen
        status = "FAILED"
        try:
            self._start_tracking()  # in the try: a failure after the MLflow run started must still end it
            while self.state.step < cfg.max_steps and (until is None or self.state.step < until):
                lr = self.scheduler.get_last_lr()[0]  # the lr this step applies (after it, the next step's)
                loss, norm = self.train_step()
                step = self.state.step
                self._record(
                    {
                        "step": step,
                        "loss": loss,
                        "lr": lr,
                        "grad_norm": norm,
                        "tokens_seen": self.state.tokens_seen,
                        "time": time.time(),
                    }
                )
                if step % tcfg.log_every == 0 or step == cfg.max_steps:
                    elapsed = time.perf_counter() - t0
                    tps = (self.state.tokens_seen - tokens0) / max(elapsed, 1e-9)
                    self.tracker.log_metrics({"tokens_per_s": tps, "tokens_seen": self.state.tokens_seen}, step)
                    self.tracker.flush()
                    if w.is_main:
                        log.info(
                            "step %d/%d loss %.4f lr %.2e grad_norm %.3f tokens/s %.0f",
                            step,
                            cfg.max_steps,
                            loss,
                            lr,
                            norm,
                            tps,
                        )
                    t0, tokens0 = time.perf_counter(), self.state.tokens_seen
                if tcfg.eval_every and (step % tcfg.eval_every == 0 or step == cfg.max_steps):
                    val = self._validate(step)
                if step % cfg.checkpoint.every == 0 or step == cfg.max_steps:
                    self.tracker.flush()  # a crash after the save must not cost MLflow the steps it keeps
                    self.checkpoint.save()
            status = "FINISHED" if self.state.step >= cfg.max_steps else "KILLED"
            if status == "FINISHED":
                if loss is None and self.history and self.history[-1][0] == self.state.step:
                    loss = self.history[-1][1]  # resumed from the final checkpoint (killed before the manifest)
                if val is None and tcfg.eval_every:
                    val = self._validate(self.state.step, again=True)  # likewise: nothing left to train, but the
                    # final val loss is still due (and a copied run's new MLflow run does not hold it yet)
                self._finish(loss, val)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (`Stopped`): the last checkpoint stays to resume from
            status = "KILLED"
            if w.is_main:
                why = str(exc) or "interrupted"
                log.warning(
                    "%s at step %d; the last checkpoint stays, and a resume continues from it", why, self.state.step
                )
            raise
        finally:
            signals.closing = True
            self.tracker.end(status)
            if status != "FINISHED":
                self._mark_stopped(status.lower())
        return self._result(loss, val)

    # -- records ----------------------------------------------------------------------------------------------------
    def _record(self, row: dict[str, Any]) -> None:
        self.history.append((row["step"], row["loss"]))
        self.tracker.log_metrics({k: v for k, v in row.items() if k in ("loss", "lr", "grad_norm")}, row["step"])
        if self.world.is_main:
            with open(self.run_dir / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def _start_tracking(self) -> None:
        """rank 0: run.json, metrics.jsonl trimmed to the resumed step, and the MLflow run (new or continued)."""
        if not self.world.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics = self.run_dir / METRICS
        rows: list[dict[str, Any]] = []
        if metrics.is_file():  # steps after the checkpoint we resumed from are recomputed: drop their old lines
            for line in metrics.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill or a full disk
                    rows.append(json.loads(line))
            rows = [r for r in rows if r["step"] <= self.state.step]
            # into a new file, then renamed over: rewritten in place, a kill or a full disk midway lost the rows of
            # every step before the resume, which no checkpoint keeps
            tmp = metrics.with_name(METRICS + ".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            tmp.replace(metrics)
            # the loss curve logged at the end covers the steps before the resume too
            self.history = [(r["step"], r["loss"]) for r in rows]
        info = self.read_run_json(self.run_dir)
        store = shown_url(tracking_uri(self.run_dir.parent.parent))
        continued, copied_from = self._mlflow_run_to_continue(info, store)
        tags = {
            **copied_from,
            "lmforge.shards": self.shards_id,
            "lmforge.tokenizer": str(self.tokenizer["id"]),
            # redacted like a manifest's paths (an address in a folder name): nothing reads this tag back, and a
            # registration sets its own (`lineage.tags`: `lineage --verify` finds folders by it)
            "lmforge.run_dir": safe_name(str(self.run_dir.resolve())),
            "lmforge.world_size": str(self.world.world_size),
            "lmforge.git_sha": str(code_version()["git_sha"]),
            "lmforge.model_kind": self.config.model.kind,
            **self.tags,
        }
        mlflow_id = self.tracker.start(
            run_name=self.run_dir.name,
            params=to_dict(self.config),
            tags=tags,
            run_id=continued,
            history_from=copied_from.get("lmforge.copied_from_mlflow_run"),  # its val losses before the fork
        )
        # val losses are not in metrics.jsonl: those before the resume come from the continued MLflow run
        self.val_history = self.tracker.history("val_loss", self.state.step)
        # steps a killed process had only buffered are in metrics.jsonl: send them (the tracker skips those MLflow
        # holds already), else the continued MLflow run would lack them for good
        for row in rows:
            self.tracker.log_metrics({k: v for k, v in row.items() if k in ("loss", "lr", "grad_norm")}, row["step"])
        self.tracker.flush()
        info.update(
            {
                "run_id": self.run_dir.name,
                "run_dir": str(self.run_dir.resolve()),
                "shards_id": self.shards_id,
                "tokenizer_id": self.tokenizer["id"],
                "mlflow_run_id": mlflow_id or continued,
                "mlflow_store": store if mlflow_id else info.get("mlflow_store"),
                "status": "running",
                "world_size": self.world.world_size,
                "step": self.state.step,
            }
        )
        self._write_run_json(info)

    def _mlflow_run_to_continue(self, info: dict[str, Any], store: str) -> tuple[str | None, dict[str, str]]:
        """(MLflow run id from run.json to continue, or None for a new run; tags naming what a new run forks from).

        A run folder copied whole (`cp -r runs/A runs/B`, then training B) holds A's run.json: continuing its MLflow
        run logged B's steps into A's run, over A's own. A copy (see `_copied_from`) gets an MLflow run of its own
        (tagged with the one it was copied from), and A's stays as A left it. Refusing instead would leave the copy no
        way to train but editing run.json; a copy is a fork a user makes on purpose (to train on from a checkpoint).
        """
        run_id = info.get("mlflow_run_id")
        recorded = self._copied_from(info, store)
        if recorded is None:
            return run_id or None, {}
        log.warning(
            "%s is a copy of %s: it trains on in a new MLflow run, tagged lmforge.copied_from_mlflow_run, and MLflow "
            "run %s stays the original's (the copy's val history before the fork is read from it)",
            self.run_dir.resolve(),
            recorded,
            run_id,
        )
        return None, {"lmforge.copied_from": safe_name(str(recorded)), "lmforge.copied_from_mlflow_run": str(run_id)}

    def _copied_from(self, info: dict[str, Any], store: str | None = None) -> Path | None:
        """The run folder this one is a copy of, per its run.json `info`: the folder run.json was written in still
        holds a run naming the same MLflow run, in the same store. None: not a copy, or no MLflow run to share. A
        folder moved (the original is gone), or a workspace copied with its own SQLite store, is no copy."""
        run_id = info.get("mlflow_run_id")
        if not run_id:
            return None
        store = store or shown_url(tracking_uri(self.run_dir.parent.parent))
        here = self.run_dir.resolve()
        # run.json written before it recorded its folder: the run folder's name, in the same runs folder
        recorded = Path(info.get("run_dir") or self.run_dir.parent.resolve() / str(info.get("run_id", here.name)))
        if recorded == here or info.get("mlflow_store", store) != store:
            return None
        try:
            original = self.read_run_json(recorded).get("mlflow_run_id")
        except (OSError, ValueError):  # a torn run.json at the original: it still claims the run
            original = run_id
        if original != run_id:
            log.info("run folder moved from %s: continuing MLflow run %s", recorded, run_id)
            return None
        return recorded

    def _finish(self, loss: float | None, val: float | None) -> None:
        if not self.world.is_main:
            return
        self.tracker.log_loss_plot(self.history, self.val_history)
        self._log_samples()
        info = self.read_run_json(self.run_dir)
        info.update(
            {
                "status": "finished",
                "step": self.state.step,
                "resumed_from": self.resumed_from,
                "tokens_seen": self.state.tokens_seen,
                "train_loss": loss,
                "val_loss": val,
                **self._val_size(),
                "checkpoint": str(list_checkpoints(self.run_dir)[-1]),
            }
        )
        self._write_run_json(info)
        write_manifest(
            self.run_dir,
            format="lmforge.run",
            id_=self.run_dir.name,
            inputs={"shards": self.shards_id, "tokenizer": self.tokenizer["id"]},
            params=to_dict(self.config),
            stats={
                "steps": self.state.step,
                "tokens_seen": self.state.tokens_seen,
                "train_loss": loss,
                "val_loss": val,
                **self._val_size(),
                "mlflow_run_id": info.get("mlflow_run_id"),
                "world_size": self.world.world_size,
            },
        )

    def _mark_stopped(self, status: str) -> None:
        """rank 0: run.json says "killed" (a signal, Ctrl-C, `until`) or "failed" (an exception) instead of "running",
        which it kept for good, as if the run were still training. A run.json that says otherwise (this attempt
        stopped before marking it running) stays as it was. A SIGKILL leaves "running": nothing of the process is left
        to write it."""
        if not self.world.is_main:
            return
        try:
            info = self.read_run_json(self.run_dir)
            if info.get("status") != "running":
                return
            info.update({"status": status, "step": self.state.step})
            self._write_run_json(info)
        except (OSError, ValueError) as exc:  # a full disk must not hide the error that stopped the run
            log.warning("%s: could not mark run.json %s (%s)", self.run_dir, status, exc)

    def _val_size(self) -> dict[str, int]:
        """What the final val loss averages over: a small val split scores fewer tokens than eval_batches asks."""
        if self.last_val is None:
            return {}
        return {"val_windows": self.last_val.windows, "val_tokens": self.last_val.tokens}

    def _log_samples(self) -> None:
        tcfg = self.config.tracking
        if not (self.tracker.live and tcfg.sample_prompts and tcfg.sample_tokens and self.tokenizer["model"]):
            return
        if self.config.parallel == "fsdp" and self.world.world_size > 1:
            return  # sharded weights: one rank alone cannot run the model
        try:
            from lmforge.pipeline.train.sample import generate_text
        except ImportError:
            return
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=self.tokenizer["model"])
        texts = [
            generate_text(
                self.model, sp, p, max_new_tokens=tcfg.sample_tokens, temperature=0.8, top_k=50, seed=self.config.seed
            )
            for p in tcfg.sample_prompts
        ]
        self.tracker.log_samples(list(tcfg.sample_prompts), texts, self.state.step)

    @staticmethod
    def read_run_json(run_dir: Path) -> dict[str, Any]:
        path = Path(run_dir) / RUN_JSON
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def _write_run_json(self, info: dict[str, Any]) -> None:
        tmp = self.run_dir / (RUN_JSON + ".tmp")
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.run_dir / RUN_JSON)

    def _result(self, loss: float | None, val: float | None) -> TrainResult:
        info = self.read_run_json(self.run_dir)
        return TrainResult(
            run_dir=self.run_dir,
            step=self.state.step,
            tokens_seen=self.state.tokens_seen,
            train_loss=loss if loss is not None else info.get("train_loss"),
            val_loss=val if val is not None else info.get("val_loss"),
            mlflow_run_id=info.get("mlflow_run_id"),
            resumed_from=self.resumed_from,
        )


def result_dict(result: TrainResult) -> dict[str, Any]:
    out = asdict(result)
    out["run_dir"] = str(result.run_dir)
    return out
