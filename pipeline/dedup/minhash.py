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
    """(len(hashes), num_perm) uint32 MinHash signatures of uint32 shingle-hash arrays; no shingles → all EMPTY."""
    offsets = np.zeros(len(hashes) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in hashes], out=offsets[1:])
    flat = np.concatenate(hashes).astype(np.uint32, copy=False) if hashes else np.empty(0, np.uint32)
    return signatures_flat(flat, offsets, num_perm, seed)


def signatures_flat(flat: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """Signatures of documents whose uint32 shingle hashes are concatenated in `flat`, document i owning
    flat[offsets[i]:offsets[i + 1]].

    The hashes are permuted CHUNK_ROWS at a time whatever the document boundaries, so one numpy call serves many
    small documents and a huge document never needs more than one chunk of scratch memory.
    """
    a, b = permutations(num_perm, seed)
    n = len(offsets) - 1
    out = np.full((n, num_perm), EMPTY, dtype=np.uint32)
    for c0 in range(0, len(flat), CHUNK_ROWS):
        c1 = min(c0 + CHUNK_ROWS, len(flat))
        inner = offsets[(offsets > c0) & (offsets < c1)]
        starts = np.unique(np.concatenate(([c0], inner)))  # empty documents add no piece
        owners = np.searchsorted(offsets, starts, side="right") - 1
        mixed = _fmix32(flat[c0:c1])
        # (num_perm, rows): permutation-major so reduceat runs along contiguous memory (~20x faster than axis 0).
        phv = a[:, None] * mixed[None, :]  # wraps mod 2**32, as datasketch's uint32 arithmetic does
        phv += b[:, None]
        mins = np.minimum.reduceat(phv, starts - c0, axis=1)  # (num_perm, pieces)
        out[owners] = np.minimum(out[owners], mins.T)
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


def band_keys(hashes: np.ndarray, band: int) -> np.ndarray:
    """Band hashes made distinct per band, so the bands of all documents can be sorted together."""
    h = hashes.astype(np.uint64) + np.uint64(((band + 1) * 0xD6E8FEB86659FD93) & 0xFFFFFFFFFFFFFFFF)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(33))


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """MinHash estimate of Jaccard: the share of permutations where both minima agree (datasketch's `jaccard`)."""
    return float(np.count_nonzero(sig_a == sig_b)) / sig_a.shape[-1]
