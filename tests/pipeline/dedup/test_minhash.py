from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.dedup import minhash, shingles
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.errors import ConfigError
from tests.support.dedup import paragraphs


def _datasketch(seq: list[str], n: int, num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingles.shingle_hash32)
    m.update_batch(shingles.shingles(seq, n))
    return m.hashvalues


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 7), (256, 42)])
def test_signatures_equal_datasketch_hashvalues(num_perm, seed):
    docs = [shingles.normalize(p) for p in paragraphs("en")]
    hashes = [shingles.to32(shingles.shingle_hashes64(t, 5)) for t in docs]
    sigs = minhash.signatures(hashes, num_perm, seed)
    for i, tokens in enumerate(docs):
        assert np.array_equal(sigs[i], _datasketch(tokens, 5, num_perm, seed))


def test_chinese_signatures_equal_datasketch():
    for text in paragraphs("zh"):
        seq = shingles.units(shingles.normalize(text), by_char=True)
        sig = minhash.signatures([shingles.to32(shingles.shingle_hashes64(seq, 5))], 128, 1)[0]
        assert np.array_equal(sig, _datasketch(seq, 5, 128, 1))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=40), max_size=8))
def test_batched_signatures_equal_one_by_one(docs):
    hashes = [shingles.to32(shingles.shingle_hashes64(d, 2)) for d in docs]
    together = minhash.signatures(hashes, 32, 1)
    for i, h in enumerate(hashes):
        assert np.array_equal(together[i], minhash.signatures([h], 32, 1)[0])
        if len(h) == 0:
            assert (together[i] == minhash.EMPTY).all()


def test_huge_document_is_chunked_and_exact(monkeypatch):
    rng = np.random.default_rng(0)
    h = rng.integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)
    whole = minhash.signatures([h], 64, 1)
    monkeypatch.setattr(minhash, "CHUNK_ROWS", 97)
    assert np.array_equal(minhash.signatures([h[:10], h, h[:3]], 64, 1)[1], whole[0])


def test_band_params_favour_recall_at_the_lowest_accepted_similarity():
    bands, rows = minhash.band_params(DedupConfig())
    assert (bands, rows) == (25, 5)
    p = 1 - (1 - 0.7**rows) ** bands
    assert p >= 0.98
    assert minhash.band_params(DedupConfig(bands=16, rows=8)) == (16, 8)


def test_band_hashes_equal_iff_band_values_equal():
    sigs = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [7, 2, 3, 4]], dtype=np.uint32)
    bh = minhash.band_hashes(sigs, 2, 2)
    assert bh[0, 0] == bh[1, 0] and bh[0, 1] != bh[1, 1]
    assert bh[0, 1] == bh[2, 1] and bh[0, 0] != bh[2, 0]


def test_estimate_matches_datasketch_jaccard():
    a, b = (shingles.normalize(p) for p in paragraphs("en")[:2])
    ma, mb = (MinHash(128, 1, hashfunc=shingles.shingle_hash32) for _ in range(2))
    ma.update_batch(shingles.shingles(a + b, 5))
    mb.update_batch(shingles.shingles(a, 5))
    assert minhash.estimate(ma.hashvalues, mb.hashvalues) == pytest.approx(ma.jaccard(mb))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.0},
        {"margin": 0.9},
        {"bands": 3},
        {"bands": 20, "rows": 10},
        {"index": "http://x"},
        {"num_perm": 0},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError, match="dedup."):
        DedupConfig(**kwargs)
