"""Dedup memory at scale: `find_duplicates` alone over N synthetic signatures, its peak RSS and RSS per document.

The signatures are random (no candidates) except that every 100th document repeats its predecessor's, a near
duplicate the MinHash estimate decides without text. Writing them is untimed; the search runs in a fresh child
process, so its peak RSS is its own. Compare two sizes to get the bytes each further document costs.

    .venv/bin/python bench/dedup_scale.py --docs 1000000
    .venv/bin/python bench/dedup_scale.py --docs 3000000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parent))
from common import machine, run_child, self_peak_rss_mb, table  # noqa: E402


def write_synthetic(folder: Path, n: int, rows: int = 200_000) -> list[Path]:
    """Signature files for `n` documents with random signatures (no candidates), except that every 100th
    document repeats its predecessor's signature (a near duplicate decided by the estimate: no text needed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lmforge.pipeline.dedup import minhash
    from lmforge.pipeline.dedup.config import DedupConfig
    from lmforge.pipeline.dedup.signatures import band_column, signatures_schema

    config = DedupConfig()
    bands, band_rows = minhash.band_params(config)
    schema = signatures_schema(config)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, n, rows):
        m = min(rows, n - start)
        sig = rng.integers(0, 1 << 32, size=(m, config.num_perm), dtype=np.uint32)
        sig[1::100] = sig[0:-1:100][: len(sig[1::100])]
        bh = minhash.band_hashes(sig, bands, band_rows)
        cols = {
            "doc_id": pa.array([f"s{start + i:010d}" for i in range(m)]),
            "digest": pa.array([rng.bytes(16) for _ in range(m)], pa.binary(16)),
            "created_at": pa.nulls(m, pa.timestamp("us", tz="UTC")),
            "n_chars": pa.array(rng.integers(500, 5000, m), pa.int64()),
            "n_shingles": pa.array(np.full(m, 100), pa.int32()),
            "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), config.num_perm),
        }
        cols.update({band_column(k): pa.array(bh[:, k], pa.uint64()) for k in range(bands)})
        paths.append(folder / f"sig-{start // rows:05d}.sig.parquet")
        pq.write_table(pa.Table.from_pydict(cols, schema=schema), paths[-1], compression="zstd")
    return paths


def child_scale(folder: Path) -> dict:
    from lmforge.pipeline.dedup.config import DedupConfig
    from lmforge.pipeline.dedup.find import find_duplicates

    sigs = sorted((folder / "sigs").glob("sig-*.sig.parquet"))
    t0 = time.perf_counter()
    # parts are only read to verify borderline pairs, and there are none here
    result = find_duplicates(sigs, sigs, DedupConfig(), folder / "work", None)
    return {"seconds": time.perf_counter() - t0, "stats": result.stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000, help="synthetic documents (default 1,000,000)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps({**child_scale(args.dir), "self_rss_mb": self_peak_rss_mb()}))
        return
    n = args.docs
    with tempfile.TemporaryDirectory(prefix="bench-dedup-scale-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_synthetic(folder / "sigs", n)
        made = time.perf_counter() - t0
        res = run_child([__file__, "--child", "--dir", str(folder)])
    st = res["stats"]
    print(f"dedup scale: find_duplicates over {n:,} documents' signatures ({made:.0f} s to write them); {machine()}")
    print(
        table(
            ["docs", "candidates", "near duplicates", "seconds", "docs/s", "peak RSS MB", "RSS bytes/doc"],
            [
                [
                    n,
                    st["candidates"],
                    st["near_duplicate"],
                    res["seconds"],
                    n / res["seconds"],
                    res["self_rss_mb"],
                    res["self_rss_mb"] * 2**20 / n,
                ]
            ],
        )
    )


if __name__ == "__main__":
    main()
