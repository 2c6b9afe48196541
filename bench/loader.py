"""Shard loader throughput: random batches of 16 × 1,024 tokens, warm and cold page cache, lmforge's ShardLoader
beside nanoGPT's `get_batch` (a torch.stack of per-row slices) on the same memory-mapped shard.

Cold: the shard's pages are evicted (posix_fadvise DONTNEED) before the timed batches, so every window is read
from disk; warm: the same after the file has been read once. Target: ≥ 20 M tokens/s warm, i.e. never the
training bottleneck (bench/train.py shows what the trainer consumes).

    .venv/bin/python bench/loader.py [--tokens 100_000_000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import machine, table, versions  # noqa: E402


def _train_bench():
    spec = importlib.util.spec_from_file_location("lmforge_bench_train", HERE / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def rate(fn, n: int, batch: int, seq: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n * batch * seq / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=100_000_000)
    ap.add_argument("--batches", type=int, default=200)
    args = ap.parse_args()

    from lmforge.pipeline.train.loader import ShardLoader
    from lmforge.schemas.shards import open_tokens

    bt = _train_bench()
    batch, seq = 16, 1024
    with tempfile.TemporaryDirectory(prefix="lmforge-bench-loader-") as tmp:
        shards = bt.make_shards(Path(tmp), 8000, args.tokens)
        shard = shards / "train-00000.bin"
        loader = ShardLoader(shards, "train", batch_size=batch, seq_len=seq, seed=0)
        nanogpt = bt.nanogpt_get_batch(open_tokens(shard), batch, seq)

        rows = []
        for name, fn in (("lmforge ShardLoader", loader.next_batch), ("nanoGPT get_batch", nanogpt)):
            evict(shard)
            cold = rate(fn, args.batches, batch, seq)
            with open(shard, "rb") as f:  # read it once: every page cached
                while f.read(1 << 24):
                    pass
            for _ in range(20):
                fn()
            warm = rate(fn, args.batches * 5, batch, seq)
            rows.append([name, cold / 1e6, warm / 1e6])
    print(
        f"bench/loader.py — {machine()}; {versions('lmforge', 'torch', 'numpy')}; "
        f"shard of {args.tokens / 1e6:.0f} M uint16 tokens, batch {batch} × {seq}"
    )
    print(table(["loader", "cold M tokens/s", "warm M tokens/s"], rows))
    print(f"warm lmforge / nanoGPT: {rows[0][2] / rows[1][2]:.1f}×   (target: ≥ 20 M tokens/s warm)")


if __name__ == "__main__":
    main()
