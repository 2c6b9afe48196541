"""Checkpoints that own all training state, so a resumed run continues bit for bit (on CPU) as if never stopped.

Layout: `<run>/checkpoints/step-00000050/` holding
  model.pt        full (unsharded) model state dict                      rank 0
  optim.pt        optimizer state (full, also under FSDP)                 rank 0
  trainer.pt      scheduler state, step and tokens seen                   rank 0
  rank-00001.pt   this rank's loader position and RNG states (python, numpy, torch, cuda)   every rank
  meta.json       step, config + digest, shards id, world size, vocab, tokenizer, sha256 of each file; written last
Each checkpoint is written into `.tmp-step-…` and renamed into place once every rank has written its part, so a
kill at any moment leaves either the old set of checkpoints or the old set plus one complete new one (and, at most,
a `.tmp-step-…` folder, removed when the run starts again: rank 0 holds `checkpoints/.saving.lock` while it saves,
so a folder whose lock is free has no writer left). Only the
newest `keep` are kept. Resuming with a different config, vocabulary, other shards or another world size is a clear error, and
so is a file whose bytes changed since it was written (torch.load does not check the zip's CRCs).
Multi-node runs need the run folder on a filesystem every node sees.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pickle
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmforge.pipeline.configuring import from_dict, to_dict
from lmforge.pipeline.digest import digest, sha256_file
from lmforge.pipeline.errors import IntegrityError, LmforgeError, NotFoundError
from lmforge.pipeline.train import distributed as D
from lmforge.pipeline.train.config import TrainConfig
from lmforge.pipeline.train.loader import ShardLoader

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
META = "meta.json"
SAVING_LOCK = ".saving.lock"
"""Held (flock) by rank 0 from before it makes a `.tmp-step-…` folder until that folder is renamed into place."""


@dataclass(slots=True)
class TrainState:
    """The trainer's own counters."""

    step: int = 0
    tokens_seen: int = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, "tokens_seen": self.tokens_seen}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step, self.tokens_seen = int(state["step"]), int(state["tokens_seen"])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The user's module under `torch.compile` and DDP wrappers (FSDP2 shards in place, so nothing to peel)."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model) if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def config_digest(config: TrainConfig) -> str:
    return digest(to_dict(config))


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if (p / META).is_file())


def newest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run (None: it has none). A checkpoint folder is renamed into place with
    its meta.json: the newest `step-…` folder without one was damaged since, an IntegrityError. Skipped silently, a resume went on from an older checkpoint
    (or from step 0, over the run's metrics), and `lmforge generate`/`evaluate` of the run used an older model."""
    found = list_checkpoints(run_dir)
    root = Path(run_dir) / CHECKPOINTS
    folders = sorted(p for p in root.glob("step-*") if p.is_dir()) if root.is_dir() else []
    if folders and (not found or folders[-1] != found[-1]):
        before = f"fall back to {found[-1].name}" if found else "train the run from step 0"
        raise IntegrityError(
            f"{folders[-1] / META}: missing, so the checkpoint is damaged; delete {folders[-1]} to {before}"
        )
    return found[-1] if found else None


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _damaged(path: Path, exc: Exception) -> IntegrityError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return IntegrityError(
        f"{path}: damaged checkpoint file ({reason}); delete {path.parent} to fall back to the checkpoint before it"
    )


#: The `meta.json` fields loading a model needs, and those resuming a run checks too.
INFERENCE_FIELDS = ("config", "vocab_size")
RESUME_FIELDS = (*INFERENCE_FIELDS, "config_digest", "shards_id", "world_size")


def read_meta(folder: Path, fields: tuple[str, ...] = INFERENCE_FIELDS) -> dict[str, Any]:
    """A checkpoint's `meta.json`; unreadable JSON, or JSON without `fields`, is an IntegrityError naming the file."""
    path = folder / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _damaged(path, exc) from exc
    if not isinstance(meta, dict):
        raise _damaged(path, ValueError(f"a JSON {type(meta).__name__}, not an object"))
    missing = [name for name in fields if name not in meta]
    if missing:
        raise _damaged(path, ValueError(f"no {', '.join(missing)}"))
    return meta


def load_file(path: Path, *, weights_only: bool = True, sha256: str | None = None) -> Any:
    """`torch.load` of one checkpoint file onto the CPU; a truncated or foreign file, or one whose bytes do not hash
    to `sha256` (recorded in meta.json when it was written), is an IntegrityError."""
    try:
        if sha256 is not None and (found := sha256_file(path)) != sha256:
            raise ValueError(f"sha256 {found[:12]}… is not the {sha256[:12]}… recorded in {META}")
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise _damaged(path, exc) from exc


def recorded_sha256(meta: dict[str, Any], name: str) -> str | None:
    """The sha256 meta.json records for file `name` (None in checkpoints written before it recorded any)."""
    files = meta.get("files")
    return files.get(name) if isinstance(files, dict) else None


def _unwritable(path: Path, exc: Exception) -> LmforgeError:
    cause = exc if isinstance(exc, OSError) else exc.__context__ or exc.__cause__  # torch wraps the OSError
    reason = (str(cause if isinstance(cause, OSError) else exc).splitlines() or [type(exc).__name__])[0]
    return LmforgeError(
        f"{path}: could not write the checkpoint ({reason}); the checkpoints before it are intact: free disk space "
        f"under {path.parent.parent} (or make it writable) and run again with --resume"
    )


def save_file(obj: Any, path: Path) -> None:
    """`torch.save` through a Python file, so that a full disk surfaces as the OSError that says so (torch's own
    writer reports only "unexpected pos"); a failure is an LmforgeError naming the file and the reason."""
    try:
        with open(path, "wb") as f:
            torch.save(obj, f)
    except (OSError, RuntimeError) as exc:
        raise _unwritable(path, exc) from exc


def load_state(
    target: torch.nn.Module | torch.optim.Optimizer, state: Any, path: Path, advice: str | None = None
) -> None:
    """`target.load_state_dict(state)`; a state of another architecture or size (a file copied over from another run)
    is an IntegrityError naming `path` and saying what to do (`advice`; default: fall back to the checkpoint before)."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        reason = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else lines[0]
        reason = reason if len(reason) <= 200 else reason[:200] + "…"
        advice = advice or f"delete {path.parent} to fall back to the checkpoint before it"
        raise IntegrityError(
            f"{path}: holds the state of another model, not of this checkpoint's config ({reason}); {advice}"
        ) from exc


@contextlib.contextmanager
def saving_lock(root: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold `<root>/.saving.lock`; yields whether it was had (with `wait=False`, False: another writer holds it).

    The kernel drops an flock with its process, so a writer killed mid-save (SIGTERM from torchrun, SIGKILL, the OOM
    killer) frees it: unlike a pid written to a file, nothing stale is left and no reused pid is mistaken for it.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / SAVING_LOCK, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def discard(folder: Path) -> None:
    """Delete a checkpoint folder by renaming it to `.tmp-…` first: deleted in place, a kill midway (rmtree takes
    files in no set order) left a `step-…` folder without its meta.json or model.pt, kept for good."""
    gone = folder.with_name(f".tmp-discard-{folder.name}")
    shutil.rmtree(gone, ignore_errors=True)
    os.replace(folder, gone)
    shutil.rmtree(gone, ignore_errors=True)


def _stale(root: Path) -> list[Path]:
    complete = list_checkpoints(root.parent)
    stale = [p for p in root.glob(".tmp-*") if p.is_dir()]
    stale += [p for p in root.glob("step-*") if p.is_dir() and complete and p < complete[-1] and p not in complete]
    return sorted(stale)


def remove_stale_tmp(run_dir: str | Path) -> list[Path]:
    """Delete what a save or a pruning killed midway left: `.tmp-…` folders (they stayed until that step was saved
    again), and `step-…` folders without a meta.json older than the newest complete checkpoint (a deletion cut
    short before `discard` renamed first; the newest one is a damaged checkpoint for `load_latest` to report). A save
    in progress, by this or another process, holds the saving lock and keeps its folder. Returns those deleted."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir() or not _stale(root):
        return []
    try:
        with saving_lock(root, wait=False) as had:
            if not had:
                log.info("%s: a checkpoint is being saved by another process; its .tmp-* folder stays", root)
                return []
            stale = _stale(root)  # again: a writer may have come and gone before the lock was had
            for folder in stale:
                shutil.rmtree(folder, ignore_errors=True)
                log.warning("removed %s, left by a checkpoint save or deletion killed before it finished", folder)
            return stale
    except OSError as exc:  # a read-only run folder: resuming reads it, the folders stay until it is writable
        log.warning("%s: could not take %s (%s); stale checkpoint folders stay", root, SAVING_LOCK, exc)
        return []


class Checkpoint:
    """Saves and restores model, optimizer, scheduler, loader, counters and RNG together, on every rank."""

    def __init__(
        self,
        run_dir: Path,
        *,
        world: D.World,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        loader: ShardLoader,
        state: TrainState,
        config: TrainConfig,
        shards_id: str,
        vocab_size: int,
        tokenizer: dict[str, str | None],
    ) -> None:
        self.root = Path(run_dir) / CHECKPOINTS
        self.world, self.model, self.optimizer, self.scheduler = world, model, optimizer, scheduler
        self.loader, self.state, self.config = loader, state, config
        self.fsdp = config.parallel == "fsdp"
        self.meta = {
            "config": to_dict(config),
            "config_digest": config_digest(config),
            "shards_id": shards_id,
            "world_size": world.world_size,
            "vocab_size": vocab_size,
            "model_kind": config.model.kind,
            "tokenizer_id": tokenizer.get("id"),
            "tokenizer_model": tokenizer.get("model"),
        }

    # -- saving ---------------------------------------------------------------------------------------------------
    def _model_and_optim_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
            return get_state_dict(unwrap(self.model), self.optimizer, options=opts)
        return unwrap(self.model).state_dict(), self.optimizer.state_dict()

    def save(self) -> Path:
        # rank 0 creates, and renames, the folder every rank writes into: it alone holds the lock, across the barriers
        with contextlib.ExitStack() as held:
            if self.world.is_main:
                try:
                    held.enter_context(saving_lock(self.root))
                except OSError as exc:
                    raise _unwritable(self.root / SAVING_LOCK, exc) from exc
            return self._save()

    def _save(self) -> Path:
        step = self.state.step
        final = self.root / f"step-{step:08d}"
        tmp = self.root / f".tmp-step-{step:08d}"
        if self.world.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                tmp.mkdir(parents=True)
            except OSError as exc:
                raise _unwritable(tmp, exc) from exc
        D.barrier()
        model_sd, optim_sd = self._model_and_optim_state()  # a collective under FSDP: every rank calls it
        try:
            save_file({"loader": self.loader.state_dict(), "rng": rng_state()}, tmp / f"rank-{self.world.rank:05d}.pt")
            if self.world.is_main:
                save_file(model_sd, tmp / "model.pt")
                save_file(optim_sd, tmp / "optim.pt")
                trainer = {"scheduler": self.scheduler.state_dict(), "state": self.state.state_dict()}
                save_file(trainer, tmp / "trainer.pt")
            D.barrier()
            if self.world.is_main:
                files = {p.name: sha256_file(p) for p in sorted(tmp.glob("*.pt"))}
                meta = {**self.meta, **self.state.state_dict(), "files": files}
                try:
                    (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                except OSError as exc:
                    raise _unwritable(tmp / META, exc) from exc
        except LmforgeError:
            shutil.rmtree(tmp, ignore_errors=True)  # a half-written folder must not keep the space a full disk lacks
            raise
        if self.world.is_main:
            if final.exists():
                discard(final)
            os.replace(tmp, final)
            for old in list_checkpoints(self.root.parent)[: -self.config.checkpoint.keep]:
                discard(old)
            log.info("checkpoint step %d saved to %s", step, final)
        D.barrier()
        return final

    # -- loading --------------------------------------------------------------------------------------------------
    def _check(self, meta: dict[str, Any], where: Path) -> None:
        """A checkpoint this run cannot resume from is an error whose every piece of advice works: resuming without
        --resume only refuses the checkpoints again, and deleting the checkpoint falls back to one just like it."""
        run_dir = self.root.parent
        fresh = (
            f"train into a new run folder (`lmforge train` gives each shards id and config a folder of its own), or "
            f"delete {run_dir} to train it over from step 0"
        )
        if meta["config_digest"] != self.meta["config_digest"]:
            old, new = meta["config"], self.meta["config"]
            changed = sorted(_changed_fields(old, new))
            raise LmforgeError(
                f"{where}: this checkpoint was trained with another config (changed: {', '.join(changed) or '?'}); "
                f"resume with the config it was trained with (recorded in {where / META}), or {fresh}"
            )
        if meta["vocab_size"] != self.meta["vocab_size"]:
            # before the weights are loaded: that failure named a file and advised deleting the checkpoint, though
            # every checkpoint of the run has the old vocabulary
            raise LmforgeError(
                f"{where}: this checkpoint's model has a vocabulary of {meta['vocab_size']} tokens (tokenizer "
                f"{meta.get('tokenizer_id')}), the shards now give {self.meta['vocab_size']} (tokenizer "
                f"{self.meta['tokenizer_id']}): a model cannot resume with another vocabulary; train into a new run "
                "folder (shards made with the new tokenizer get one of their own with `lmforge train`), or resume "
                "with the tokenizer the run was trained with"
            )
        if meta["shards_id"] != self.meta["shards_id"]:
            raise LmforgeError(
                f"{where}: this checkpoint was trained on shards {meta['shards_id']}, not {self.meta['shards_id']}; "
                f"resume with the shards it was trained on, or {fresh}"
            )
        if meta["world_size"] != self.meta["world_size"]:
            raise LmforgeError(
                f"{where}: this checkpoint was written by {meta['world_size']} process(es), not "
                f"{self.meta['world_size']}; resume with --nproc/--nnodes giving {meta['world_size']} process(es), or "
                f"delete {run_dir} to train it over from step 0 with {self.meta['world_size']}"
            )

    def check_latest(self) -> Path | None:
        """The newest complete checkpoint, checked to be one this run could resume from (else the error `load_latest`
        would raise); None: the run has none."""
        found = newest_checkpoint(self.root.parent)
        if found is not None:
            self._check(read_meta(found, RESUME_FIELDS), found)
        return found

    def load_latest(self) -> Path | None:
        """Restore the newest checkpoint of the run, if any; returns its folder (None: nothing to resume)."""
        path = newest_checkpoint(self.root.parent)
        if path is None:
            return None
        meta = read_meta(path, RESUME_FIELDS)
        self._check(meta, path)
        model_sd = load_file(path / "model.pt", sha256=recorded_sha256(meta, "model.pt"))
        optim_sd = load_file(path / "optim.pt", sha256=recorded_sha256(meta, "optim.pt"))
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            set_state_dict(
                unwrap(self.model),
                self.optimizer,
                model_state_dict=model_sd,
                optim_state_dict=optim_sd,
                options=StateDictOptions(full_state_dict=True),
            )
        else:
            load_state(unwrap(self.model), model_sd, path / "model.pt")
            load_state(self.optimizer, optim_sd, path / "optim.pt")
        trainer = load_file(path / "trainer.pt", sha256=recorded_sha256(meta, "trainer.pt"))
        self.scheduler.load_state_dict(trainer["scheduler"])
        self.state.load_state_dict(trainer["state"])
        name = f"rank-{self.world.rank:05d}.pt"
        mine = load_file(path / name, weights_only=False, sha256=recorded_sha256(meta, name))
        self.loader.load_state_dict(mine["loader"])
        set_rng_state(mine["rng"])
        log.info("resumed from %s (step %d, %d tokens seen)", path, self.state.step, self.state.tokens_seen)
        return path


def _changed_fields(old: Any, new: Any, prefix: str = "train") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _changed_fields(old.get(key), new.get(key), f"{prefix}.{key}")
        return out
    return [] if old == new else [prefix]


def _resolve(path: Path) -> Path:
    """A checkpoint folder from a checkpoint folder, a file in one, or a run folder (its newest checkpoint)."""
    if path.is_file():
        path = path.parent
    if (path / META).is_file():
        return path
    found = newest_checkpoint(path)
    if found:
        return found
    raise NotFoundError(f"{path}: not a checkpoint, nor a run folder with a finished checkpoint")


def load_for_inference(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, TrainConfig, Path]:
    """(model in eval mode on `device`, its TrainConfig, path of the sentencepiece model it was trained with).

    The tokenizer path is the one recorded at training time; if that file is gone, the same tokenizer id is looked
    up under the workspace that holds the checkpoint (`<ws>/runs/<id>/checkpoints/step-N` → `<ws>/tokenizers/`).
    """
    from lmforge.pipeline.train.models import build_model

    device = D.resolve_device(device)
    folder = _resolve(Path(path).absolute())  # a relative path ("r" in <ws>/runs) has too few parents to find <ws>
    meta = read_meta(folder)
    config = from_dict(TrainConfig, meta["config"], where=str(folder / META))
    model = build_model(config.model, int(meta["vocab_size"]))
    load_state(model, load_file(folder / "model.pt", sha256=recorded_sha256(meta, "model.pt")), folder / "model.pt")
    model.to(device).eval()
    recorded = Path(meta["tokenizer_model"]) if meta.get("tokenizer_model") else None
    tokenizer = recorded
    if (recorded is None or not recorded.is_file()) and meta.get("tokenizer_id") and len(folder.parents) > 3:
        candidate = folder.parents[3] / "tokenizers" / meta["tokenizer_id"] / "tokenizer.model"
        if candidate.is_file() or recorded is None:
            tokenizer = candidate
    if tokenizer is None:
        raise NotFoundError(f"{folder / META}: records no tokenizer; pass the tokenizer explicitly")
    return model, config, tokenizer
