"""Process-group setup from the torchrun environment, and the few collectives the trainer needs.

Without torchrun's variables (RANK, WORLD_SIZE, …) everything runs in-process as world size 1 with no process group,
which is how the unit tests drive the trainer. One process per device: gloo on CPU, NCCL on GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lmforge.pipeline.errors import ConfigError


@dataclass(frozen=True, slots=True)
class World:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def resolve_device(spec: str | torch.device, where: str = "device") -> torch.device:
    """`spec` as a torch device this machine has; a typo or a missing GPU is a ConfigError naming `where`."""
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ConfigError(f"{where}: {str(spec)!r} is not a torch device (cpu, cuda, cuda:1)") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"{where}: {str(spec)!r}, but torch sees {count} CUDA device(s) here; use cpu")
    elif device.type == "meta":  # tensors without data: the model "ran" and failed at the first value read back
        raise ConfigError(f"{where}: 'meta' holds shapes, not values; use cpu or cuda")
    elif device.type != "cpu":
        # mps, xpu, …: a name torch knows, but this build or machine may not have it (a RuntimeError or an
        # AssertionError from inside torch when the model moved there)
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError) as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"{where}: {str(spec)!r} is not available here ({reason}); use cpu") from exc
    return device


def pick_device(kind: str, local_rank: int) -> torch.device:
    if kind == "cuda" or (kind == "auto" and torch.cuda.is_available()):
        return resolve_device(f"cuda:{local_rank}", "train.device")
    return torch.device("cpu")


def init_world(device_kind: str = "auto") -> World:
    """Join the process group torchrun describes in the environment (or none, for a plain process)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_kind, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if "MASTER_ADDR" in os.environ and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world_size, device_id=device if device.type == "cuda" else None
        )
    return World(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def close_world() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of `t` over ranks (in place; a no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= dist.get_world_size()
    return t


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of `t` over ranks (in place; a no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(obj: object) -> object:
    """Rank 0's `obj` on every rank (used for the MLflow run id and error flags)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
