"""MinHash signatures and LSH band hashes, computed for many documents at once.

The permutations are datasketch's "affine32" scheme (its default since 2.0): `a, b` drawn from
`np.random.RandomState(seed)`, each 32-bit shingle hash pre-mixed with MurmurHash3's 32-bit finaliser and mapped
to `a * h + b mod 2**32`. So a signature here equals `datasketch.MinHash(num_perm, seed,
hashfunc=shingle_hash32).hashvalues` for the same shingles, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from lmforge.pipeline.dedup.config import DedupConfig

EMPTY = np.uint32(0xFFFFFFFF)
#: Shingles permuted per numpy call: bounds the (rows, num_perm) uint32 scratch matrix to ~32 MiB at 128 perms.
CHUNK_ROWS = 1 << 16


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 `(a, b)`: odd multipliers and offsets, uint32, drawn in datasketch's order."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(hashes: Sequence[np.ndarray], num_perm: int, seed: int) -> np.ndarray:
    """(len(hashes), num_perm) uint32 MinHash signatures of uint32 shingle-hash arrays; no shingles → all EMPTY.

    Documents are concatenated and cut into pieces of at most CHUNK_ROWS shingles, so one numpy call serves many
    small documents and a huge document never needs more than one chunk of scratch memory.
    """
    a, b = permutations(num_perm, seed)
    out = np.full((len(hashes), num_perm), EMPTY, dtype=np.uint32)
    pending: list[np.ndarray] = []
    owners: list[int] = []
    rows = 0

    def flush() -> None:
        nonlocal rows
        if not pending:
            return
        flat = _fmix32(np.concatenate(pending))
        starts = np.cumsum([0] + [len(p) for p in pending[:-1]])
        # (num_perm, rows): permutation-major so reduceat runs along contiguous memory (~20x faster than axis 0).
        phv = a[:, None] * flat[None, :]  # wraps mod 2**32, as datasketch's uint32 arithmetic does
        phv += b[:, None]
        mins = np.minimum.reduceat(phv, starts, axis=1)  # (num_perm, pieces)
        np.minimum.at(out, np.asarray(owners), mins.T)
        pending.clear()
        owners.clear()
        rows = 0

    for i, h in enumerate(hashes):
        for start in range(0, len(h), CHUNK_ROWS):
            piece = h[start : start + CHUNK_ROWS]
            if rows + len(piece) > CHUNK_ROWS:
                flush()
            pending.append(piece)
            owners.append(i)
            rows += len(piece)
    flush()
    return out


def _candidate_probability(s: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - s**rows) ** bands


def band_params(config: DedupConfig) -> tuple[int, int]:
    """(bands, rows): the configured ones, or the fewest false candidates that still catch a pair at
    `min_similarity` with probability `recall_target` (128 perms, 0.7, 0.98 → 25 bands of 5 rows)."""
    if config.bands:
        return config.bands, config.rows
    for rows in range(config.num_perm, 0, -1):
        bands = config.num_perm // rows
        if _candidate_probability(config.min_similarity, bands, rows) >= config.recall_target:
            return bands, rows
    return config.num_perm, 1


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: one hash per band of `rows` signature values; equal bands give equal hashes."""
    n = sigs.shape[0]
    view = sigs[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    acc = np.zeros((n, bands), dtype=np.uint64)
    for j in range(rows):
        acc = (acc ^ view[:, :, j]) * np.uint64(0x9E3779B97F4A7C15)
        acc ^= acc >> np.uint64(29)
    return acc


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """MinHash estimate of Jaccard: the share of permutations where both minima agree (datasketch's `jaccard`)."""
    return float(np.count_nonzero(sig_a == sig_b)) / sig_a.shape[-1]
