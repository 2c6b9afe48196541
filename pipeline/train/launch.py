"""Launching a training run: the run folder, the torchrun command line, streaming the workers' output, and the
worker entry point itself (`python -m lmforge.pipeline.train.launch --shards-dir … --run-dir …`).

The run folder is `<ws>/runs/<stage_id({"shards": shards_id}, config)>/`; its `config.json` (the TrainConfig as
JSON) is written by the launching process and read by every worker, so all ranks train the same config.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lmforge.pipeline.configuring import to_dict
from lmforge.pipeline.errors import ConfigError, LmforgeError
from lmforge.pipeline.stage import find_stage, stage_id
from lmforge.pipeline.train.config import TrainConfig
from lmforge.schemas.manifest import Manifest

CONFIG_JSON = "config.json"


@dataclass(frozen=True, slots=True)
class RunPlan:
    shards_dir: Path
    shards_id: str
    run_id: str
    run_dir: Path


def plan_run(workspace: str | Path, shards: str, config: TrainConfig) -> RunPlan:
    """Resolve the shards (id, prefix or path) and name the run folder after them and the config."""
    shards_dir = find_stage(workspace, "shards", shards)
    shards_id = Manifest.read(shards_dir).id
    run_id = stage_id({"shards": shards_id}, to_dict(config))
    return RunPlan(shards_dir=shards_dir, shards_id=shards_id, run_id=run_id, run_dir=Path(workspace) / "runs" / run_id)


def write_config(run_dir: Path, config: TrainConfig) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_JSON
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_dict(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `<ws>/runs/.<run id>.lock` while a run trains: a second `lmforge train` or `lmforge run` of the same run
    at the same time (it would train into the same checkpoints, metrics.jsonl and MLflow run) is refused. The kernel
    drops the lock with its process, so a killed run leaves none behind."""
    import fcntl
    import socket

    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f".{run_dir.name}.lock", "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise LmforgeError(
                f"{run_dir}: this run is being trained right now by {holder}; wait for it to finish (or stop it), "
                "then run again"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def default_nproc(device: str = "auto") -> int:
    """One process per GPU when CUDA is used, else one CPU process (torch already uses every core in it)."""
    import torch

    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1


def check_topology(nproc: int, nnodes: int = 1, node_rank: int = 0, rdzv_endpoint: str | None = None) -> None:
    """A `ConfigError` for process counts torchrun cannot launch; the flow asks before it makes the run folder."""
    if nproc < 1:
        raise ConfigError(f"--nproc ({nproc}) must be at least 1")
    if nnodes < 1:
        raise ConfigError(f"--nnodes ({nnodes}) must be at least 1")
    if not 0 <= node_rank < nnodes:
        raise ConfigError(f"--node-rank ({node_rank}) must be in [0, {nnodes})")
    if nnodes > 1 and rdzv_endpoint is None:
        raise ConfigError("--rdzv-endpoint HOST:PORT is needed when --nnodes > 1")


def torchrun_command(
    *,
    shards_dir: Path,
    run_dir: Path,
    nproc: int,
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    resume: bool = True,
    tags: dict[str, str] | None = None,
) -> list[str]:
    """The torchrun command line (via `python -m torch.distributed.run`, so it uses this interpreter)."""
    check_topology(nproc, nnodes, node_rank, rdzv_endpoint)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        cmd += [
            f"--nnodes={nnodes}",
            f"--node-rank={node_rank}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={rdzv_endpoint}",
            f"--rdzv-id={run_dir.name}",
        ]
    cmd += ["-m", "lmforge.pipeline.train.launch", "--shards-dir", str(shards_dir), "--run-dir", str(run_dir)]
    if not resume:
        cmd.append("--no-resume")
    for key, value in sorted((tags or {}).items()):
        cmd += ["--tag", f"{key}={value}"]
    return cmd


def run_torchrun(cmd: list[str], on_line: Callable[[str], None], env: dict[str, str] | None = None) -> None:
    """Run torchrun, passing every output line to `on_line` as it comes; a failure raises with the last error lines.

    torchrun runs in its own process group so that an interrupt here stops all its workers (their last checkpoint
    stays; a later run resumes from it).
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    tail: deque[str] = deque(maxlen=40)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=full_env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            tail.append(line)
            on_line(line)
        rc = proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    if rc != 0:
        raise LmforgeError(f"training failed (torchrun exit {rc}): {_error_summary(list(tail))}")


def _error_summary(lines: list[str]) -> str:
    """The workers' own one-line errors if they printed any, else the last non-empty lines."""
    ours = [ln.split("lmforge: error: ", 1)[1] for ln in lines if "lmforge: error: " in ln]
    if ours:
        return ours[-1]
    errors = [ln.strip() for ln in lines if "Error" in ln or "error" in ln]
    picked = errors[-3:] if errors else [ln.strip() for ln in lines if ln.strip()][-5:]
    return " | ".join(picked)


# -- the worker side -------------------------------------------------------------------------------------------------
def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lmforge.pipeline.train.launch", description="One lmforge training worker (started by torchrun)."
    )
    parser.add_argument("--shards-dir", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument(
        "--config",
        type=Path,
        help="TrainConfig as JSON, or an lmforge run config in TOML, YAML or JSON (default: <run>/config.json)",
    )
    resume = parser.add_mutually_exclusive_group()
    # --resume as well: the trainer's errors advise `--resume` (the `lmforge train` flag), and here it must work too
    resume.add_argument("--resume", action="store_true", help="resume from existing checkpoints (the default)")
    resume.add_argument("--no-resume", action="store_true", help="fail instead of resuming existing checkpoints")
    parser.add_argument("--tag", action="append", default=[], help="KEY=VALUE MLflow tag (repeatable)")
    return parser.parse_args(argv)


def read_config(path: Path) -> TrainConfig:
    """The worker's TrainConfig: the run folder's config.json (a bare train table), or `--config` as given, a run
    config in TOML, YAML or JSON with its `train` section. A JSON run config was read as a bare table, and refused
    its `train` key (and every other section) as unknown fields."""
    from lmforge.pipeline.train.config import load_train_config

    return load_train_config(path)


def die_with_parent() -> None:
    """Under torchrun, have the kernel send this worker SIGTERM when its torchrun agent dies. torchrun starts each
    worker in a session of its own, so a SIGKILL of torchrun's process group (the OOM killer, `kill -9`, a crashed
    launcher) left the workers training on as orphans: the run lock was free again, and a resumed run trained into
    the same checkpoints and metrics.jsonl beside them. Linux only (prctl); elsewhere a no-op."""
    if not sys.platform.startswith("linux") or "TORCHELASTIC_RUN_ID" not in os.environ:
        return
    import ctypes

    parent = os.getppid()  # not "== 1": in a container torchrun itself may be process 1
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the agent died before the call above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    die_with_parent()
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format=f"[rank {rank}] %(levelname)s %(name)s: %(message)s",
    )
    from lmforge.pipeline.train import distributed as D
    from lmforge.pipeline.train.trainer import Trainer

    try:
        config = read_config(args.config or args.run_dir / CONFIG_JSON)
        tags = dict(t.split("=", 1) for t in args.tag if "=" in t)
        result = Trainer(config, args.shards_dir, args.run_dir, resume=not args.no_resume, tags=tags).fit()
        if rank == 0:
            logging.getLogger(__name__).info(
                "done: step %d, %d tokens, train loss %s, val loss %s",
                result.step,
                result.tokens_seen,
                result.train_loss,
                result.val_loss,
            )
    except (LmforgeError, OSError) as exc:  # OSError: a full disk or an unwritable run folder, naming the file
        print(f"[rank {rank}] lmforge: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM from torchrun (`Stopped`): the trainer logged it
        return 128 + getattr(exc, "signum", signal.SIGINT)
    finally:
        D.close_world()
    return 0


if __name__ == "__main__":
    sys.exit(main())
