"""Training throughput: the lmforge trainer (torchrun, DDP, logging, checkpoints) vs a bare PyTorch loop of the same
GPT, same batch, context and dtype, with no logging or checkpointing. Same data, same run; prints one table.

    python bench/train.py                       # CPU: fp32 and bf16, world 1 and 2 (a few minutes on 2 cores)
    python bench/train.py --steps 40 --layers 4 --width 256 --seq 256
    python bench/train.py --device cuda --gpt2-124m   # GPU: GPT-2 small, bf16 + compile, NCCL, tokens/s and MFU

Both sides run as torchrun workers of this script (`--worker lmforge|bare`); throughput is measured after
`--warmup` steps, so process start and compilation are not counted. Data: uniform random tokens written as a real
shards folder (the format the loader reads), so both sides do the same work per token.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a file, Python puts bench/ first on sys.path, where bench/tokenize.py would shadow the stdlib module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: Dense bf16 peak of an H100 SXM (NVIDIA H100 datasheet: 989 TFLOP/s without sparsity).
H100_BF16_PEAK = 989e12


def make_shards(root: Path, vocab: int, tokens: int) -> Path:
    from lmforge.pipeline.stage import write_manifest
    from lmforge.schemas.shards import ShardHeader, dtype_for_vocab

    out = root / "shards" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    counts = {}
    for name, n in (("train-00000.bin", tokens), ("val-00000.bin", max(tokens // 20, 1 << 16))):
        data = rng.integers(0, vocab, n).astype(dtype_for_vocab(vocab))
        (out / name).write_bytes(ShardHeader(n, 1, data.itemsize, "00" * 32).pack() + data.tobytes())
        counts[name] = {"tokens": n}
    write_manifest(
        out,
        format="lmforge.shards",
        id_="bench",
        inputs={"tokenizer": None},
        params={"vocab_size": vocab},
        stats={},
        counts=counts,
    )
    return out


def train_config(args: argparse.Namespace, dtype: str):
    from lmforge.pipeline.configuring import from_dict
    from lmforge.pipeline.train.config import TrainConfig

    return from_dict(
        TrainConfig,
        {
            "model": {
                "kind": "gpt",
                "gpt": {
                    "n_layer": args.layers,
                    "n_head": args.heads,
                    "n_embd": args.width,
                    "block_size": args.seq,
                    "tie_embeddings": True,
                },
            },
            "data": {"batch_size": args.batch, "seq_len": args.seq},
            "max_steps": args.warmup + args.steps,
            "dtype": dtype,
            "compile": args.compile,
            "device": args.device,
            "checkpoint": {"every": args.checkpoint_every, "keep": 1},
            "tracking": {"mlflow": False, "eval_every": 0, "log_every": 10},
        },
        where="bench",
    )


def worker_lmforge(args: argparse.Namespace, config) -> dict:
    from lmforge.pipeline.train.trainer import Trainer

    run_dir = Path(args.root) / "runs" / Path(args.out).stem  # one fresh run per launch
    trainer = Trainer(config, Path(args.root) / "shards" / "bench", run_dir, resume=False)
    trainer.fit()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    a, b = rows[args.warmup - 1], rows[-1]
    flops = trainer.model.flops_per_token(args.seq)
    return {"tokens_per_s": (b["tokens_seen"] - a["tokens_seen"]) / (b["time"] - a["time"]), "flops": flops}


def worker_bare(args: argparse.Namespace, config) -> dict:
    """nanoGPT-style: the same model, AdamW, autocast; batches sliced straight from the memmap; nothing else."""
    from lmforge.pipeline.train import distributed as D
    from lmforge.pipeline.train.models import build_model
    from lmforge.schemas.shards import open_tokens

    world = D.init_world(args.device)
    torch.manual_seed(0)
    model = build_model(config.model, args.vocab).to(world.device)
    net = model
    if world.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[world.device.index] if world.device.type == "cuda" else None
        )
    if args.compile:
        net = torch.compile(net)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=world.device.type == "cuda")
    tokens = open_tokens(Path(args.root) / "shards" / "bench" / "train-00000.bin")
    rng = np.random.default_rng(world.rank)
    offsets = np.arange(args.seq + 1)
    bf16 = config.dtype == "bf16"
    t0 = 0.0
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if world.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        starts = rng.integers(0, len(tokens) - args.seq - 1, args.batch)
        batch = torch.from_numpy(tokens[starts[:, None] + offsets].astype(np.int64)).to(world.device)
        with torch.autocast(world.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            _, loss = net(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    if world.device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    D.close_world()
    return {
        "tokens_per_s": args.steps * args.batch * args.seq * world.world_size / elapsed,
        "flops": model.flops_per_token(args.seq),
    }


def nanogpt_get_batch(data: np.ndarray, batch: int, seq: int, seed: int = 0):
    """nanoGPT's `get_batch` over a token map: random offsets, a torch.stack of per-row from_numpy for x and y."""
    rng = np.random.default_rng(seed)

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = rng.integers(0, len(data) - seq - 1, batch)
        x = torch.stack([torch.from_numpy(data[i : i + seq].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1 : i + 1 + seq].astype(np.int64)) for i in ix])
        return x, y

    return get_batch


def bench_loader(shards: Path, batch: int = 16, seq: int = 1024, n: int = 300) -> tuple[float, float]:
    """Warm tokens/s of ShardLoader vs nanoGPT's `get_batch` (torch.stack of per-row from_numpy) on the same map."""
    from lmforge.pipeline.train.loader import ShardLoader
    from lmforge.schemas.shards import open_tokens

    loader = ShardLoader(shards, "train", batch_size=batch, seq_len=seq, seed=0)
    nanogpt = nanogpt_get_batch(open_tokens(shards / "train-00000.bin"), batch, seq)
    rates = []
    for fn in (loader.next_batch, nanogpt):
        for _ in range(20):
            fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n * batch * seq / (time.perf_counter() - t0))
    return rates[0], rates[1]


def launch(args: argparse.Namespace, side: str, dtype: str, nproc: int, repeat: int) -> dict:
    out = Path(args.root) / f"result-{side}-{dtype}-{nproc}-{repeat}.json"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        __file__,
        "--worker",
        side,
        "--dtype",
        dtype,
        "--out",
        str(out),
        *args.passthrough,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or max(1, (os.cpu_count() or 1) // nproc))}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} {dtype} world {nproc} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--gpt2-124m", action="store_true", help="GPT-2 small: 12 layers, 12 heads, 768 wide, 1024 ctx")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=2048)
    p.add_argument("--steps", type=int, default=20, help="measured steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--checkpoint-every", type=int, default=10, help="lmforge checkpoint cadence (inside the window)")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--repeat", type=int, default=2, help="alternating runs per side; the best is reported")
    p.add_argument("--threads", type=int, default=0, help="CPU threads per process (default: cores / world)")
    p.add_argument("--worlds", default="1,2", help="comma-separated world sizes (processes)")
    p.add_argument("--dtypes", default="fp32,bf16")
    p.add_argument("--root", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=["lmforge", "bare"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.gpt2_124m:
        args.layers, args.heads, args.width, args.seq, args.vocab = 12, 12, 768, 1024, 50304
        args.compile, args.dtypes = True, "bf16"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.worker:
        result = (worker_lmforge if args.worker == "lmforge" else worker_bare)(args, train_config(args, args.dtype))
        if int(os.environ.get("RANK", "0")) == 0:
            Path(args.out).write_text(json.dumps(result))
        return
    root = Path(tempfile.mkdtemp(prefix="lmforge-bench-"))
    args.root = str(root)
    need = (args.warmup + args.steps) * args.batch * (args.seq + 1) * 4
    make_shards(root, args.vocab, max(need, 1 << 24))
    args.passthrough = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--gpt2-124m"]
    args.passthrough += [
        "--root",
        str(root),
        "--layers",
        str(args.layers),
        "--heads",
        str(args.heads),
        "--width",
        str(args.width),
        "--seq",
        str(args.seq),
        "--vocab",
        str(args.vocab),
    ]
    if args.compile:
        args.passthrough.append("--compile")
    worlds = [int(w) for w in args.worlds.split(",")]
    if args.device == "cuda":
        worlds = [w for w in worlds if w <= torch.cuda.device_count()] or [1]
    print(
        f"lmforge bench/train — torch {torch.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPU cores, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else "")
    )
    print(
        f"GPT {args.layers}L×{args.heads}H×{args.width}, context {args.seq}, micro-batch {args.batch}/rank, "
        f"vocab {args.vocab}, compile {args.compile}, {args.steps} steps measured after {args.warmup}"
    )
    ours, base = bench_loader(root / "shards" / "bench")
    print(
        f"loader, batch 16 × 1024, warm: lmforge {ours / 1e6:,.1f} M tokens/s vs nanoGPT get_batch "
        f"{base / 1e6:,.1f} M tokens/s ({ours / base:.2f}×)"
    )
    print(f"trainer: best of {args.repeat} alternating runs per row (a shared machine is noisy)")
    print(
        f"{'dtype':<6}{'world':>6}{'lmforge tok/s':>16}{'bare tok/s':>14}{'ratio':>8}"
        + (f"{'MFU':>8}" if args.device == "cuda" else "")
    )
    for dtype in args.dtypes.split(","):
        for world in worlds:
            runs: dict[str, list[dict]] = {"lmforge": [], "bare": []}
            for i in range(args.repeat):
                for side in runs:
                    runs[side].append(launch(args, side, dtype, world, i))
            ours, bare = (max(runs[side], key=lambda r: r["tokens_per_s"]) for side in ("lmforge", "bare"))
            line = (
                f"{dtype:<6}{world:>6}{ours['tokens_per_s']:>16,.0f}{bare['tokens_per_s']:>14,.0f}"
                f"{ours['tokens_per_s'] / bare['tokens_per_s']:>8.2f}"
            )
            if args.device == "cuda":
                line += f"{ours['tokens_per_s'] * ours['flops'] / (H100_BF16_PEAK * world):>8.1%}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
