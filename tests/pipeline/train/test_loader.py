"""The shard loader: exact resume, disjoint ranks, epochs, shard seams (torchtitan-style checks)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.pipeline.errors import ConfigError, IntegrityError
from lmforge.pipeline.stage import write_manifest
from lmforge.pipeline.train.loader import ShardLoader, TokenStream, split_files
from lmforge.schemas.shards import ShardHeader, open_tokens

B, T = 4, 32


def loader(shards_dir: Path, **kw) -> ShardLoader:
    return ShardLoader(shards_dir, **{"split": "train", "batch_size": B, "seq_len": T, "seed": 7, **kw})


def window_ids(x: torch.Tensor) -> list[int]:
    """Window index of each row of a batch from the counting shards (token value = position in the stream)."""
    return [int(row[0]) // T for row in x]


@pytest.fixture(scope="module")
def counting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shards whose tokens count 0, 1, 2, … across three uneven train files, so a row tells where it came from."""
    out = tmp_path_factory.mktemp("counting") / "shards" / "count"
    out.mkdir(parents=True)
    counts, pos = {}, 0
    for name, n in (
        ("train-00000.bin", 5000),
        ("train-00001.bin", 3001),
        ("train-00002.bin", 4321),
        ("val-00000.bin", 900),
    ):
        tokens = np.arange(pos, pos + n, dtype=np.uint32) if name.startswith("train") else np.zeros(n, np.uint32)
        pos += n if name.startswith("train") else 0
        (out / name).write_bytes(ShardHeader(n, 1, 4, "ab" * 32).pack() + tokens.tobytes())
        counts[name] = {"tokens": n}
    write_manifest(
        out, format="lmforge.shards", id_="count", inputs={"tokenizer": "none"}, params={}, stats={}, counts=counts
    )
    return out


@pytest.fixture(scope="module")
def stream(shards_dir: Path) -> np.ndarray:
    return np.concatenate([np.asarray(open_tokens(p)) for p in split_files(shards_dir, "train")]).astype(np.int64)


def test_batches_are_shifted_windows_of_the_stream(shards_dir: Path, stream: np.ndarray) -> None:
    x, y = loader(shards_dir, shuffle=False).next_batch()
    assert x.shape == y.shape == (B, T) and x.dtype == torch.long
    for i in range(B):
        assert torch.equal(x[i], torch.from_numpy(stream[i * T : i * T + T]))
        assert torch.equal(y[i], torch.from_numpy(stream[i * T + 1 : i * T + T + 1]))


@pytest.mark.parametrize("k", [0, 3, 17])
def test_resume_from_state_yields_identical_batches(shards_dir: Path, k: int) -> None:
    straight = loader(shards_dir)
    interrupted = loader(shards_dir)
    for _ in range(k):
        straight.next_batch()
        interrupted.next_batch()
    state = interrupted.state_dict()
    restored = loader(shards_dir)
    restored.load_state_dict(state)
    for _ in range(40):  # crosses an epoch boundary for k = 17 (epoch = 31 batches of 4 × 32 here)
        a, b = straight.next_batch(), restored.next_batch()
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_ranks_are_disjoint_and_cover_one_epoch(counting: Path) -> None:
    ranks = [loader(counting, rank=r, world_size=2) for r in range(2)]
    seen: list[list[int]] = [[], []]
    for _ in range(ranks[0].batches_per_epoch):
        for r, ld in enumerate(ranks):
            seen[r] += window_ids(ld.next_batch()[0])
    assert not set(seen[0]) & set(seen[1])
    everything = seen[0] + seen[1]
    assert len(everything) == len(set(everything))  # no window twice in an epoch
    n = ranks[0].num_windows
    assert len(everything) == n - n % (2 * B)  # drop_last: only the last partial global batch is skipped


def test_two_ranks_see_what_one_rank_sees_with_double_batch(shards_dir: Path) -> None:
    one = loader(shards_dir, batch_size=2 * B)
    two = [loader(shards_dir, rank=r, world_size=2) for r in range(2)]
    for _ in range(5):
        x, _ = one.next_batch()
        assert torch.equal(x, torch.cat([ld.next_batch()[0] for ld in two]))


def test_epochs_reshuffle_and_count(counting: Path) -> None:
    ld = loader(counting)
    first = [w for _ in range(ld.batches_per_epoch) for w in window_ids(ld.next_batch()[0])]
    assert ld.epoch == 0
    second = [w for _ in range(ld.batches_per_epoch) for w in window_ids(ld.next_batch()[0])]
    assert ld.epoch == 1 and ld.state_dict()["batch"] == ld.batches_per_epoch
    assert first != second and len(set(second)) == len(second)


def test_keep_last_fills_the_final_batch_from_the_epoch_start(counting: Path) -> None:
    ld = loader(counting, drop_last=False, batch_size=5)
    seen = [w for _ in range(ld.batches_per_epoch) for w in window_ids(ld.next_batch()[0])]
    assert set(seen) == set(range(ld.num_windows))


def test_keep_last_with_fewer_windows_than_half_a_batch_repeats_real_windows(counting: Path) -> None:
    # 12 windows of 1000 tokens, batch of 32: the wrap must cycle the epoch's order, not leave rows unfilled.
    ld = loader(counting, drop_last=False, batch_size=32, seq_len=1000, shuffle=False)
    assert ld.num_windows == 12 and ld.batches_per_epoch == 1
    x, y = ld.next_batch()
    for row_x, row_y in zip(x, y, strict=True):
        start = int(row_x[0])
        assert start % 1000 == 0 and 0 <= start < 12 * 1000
        assert torch.equal(row_x, torch.arange(start, start + 1000))
        assert torch.equal(row_y, torch.arange(start + 1, start + 1001))
    assert {int(row[0]) // 1000 for row in x} == set(range(12))  # every window at least once


def test_same_seed_same_order_other_seed_other_order(shards_dir: Path) -> None:
    a, b, c = loader(shards_dir), loader(shards_dir), loader(shards_dir, seed=8)
    xa, xb, xc = a.next_batch()[0], b.next_batch()[0], c.next_batch()[0]
    assert torch.equal(xa, xb) and not torch.equal(xa, xc)


@settings(max_examples=30, deadline=None)
@given(
    starts=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=16),
    length=st.integers(min_value=1, max_value=80),
)
def test_windows_across_shard_seams_match_the_concatenated_stream(
    shards_dir: Path, stream: np.ndarray, starts: list[int], length: int
) -> None:
    ts = TokenStream(split_files(shards_dir, "train"))
    seam = int(ts.starts[1])  # put the starts around the first seam between train shards
    s = np.array([seam - 5_000 + v for v in starts], dtype=np.int64)
    s = s[s + length <= len(stream)]
    got = ts.windows(s, length)
    want = np.stack([stream[i : i + length] for i in s]) if len(s) else np.empty((0, length))
    assert np.array_equal(got, want)


def test_errors_are_clear(shards_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too few"):
        loader(shards_dir, split="val", batch_size=10_000)
    with pytest.raises(IntegrityError, match="no test-"):
        loader(shards_dir, split="test")
    with pytest.raises(IntegrityError, match="tokenizer"):
        loader(shards_dir, expect_tokenizer="00" * 32)
    ld = loader(shards_dir)
    other = loader(shards_dir, rank=0, world_size=2)
    with pytest.raises(ConfigError, match="world_size"):
        ld.load_state_dict(other.state_dict())


def test_a_shard_missing_from_disk_is_an_integrity_error_naming_it(counting: Path, tmp_path: Path) -> None:
    # The manifest lists train-00001.bin but the folder was copied without it (or it was deleted).
    copy = tmp_path / "shards" / counting.name
    shutil.copytree(counting, copy)
    (copy / "train-00001.bin").unlink()
    with pytest.raises(
        IntegrityError, match=rf"{re.escape(str(copy / 'train-00001.bin'))}: shard file missing; rebuild"
    ):
        loader(copy)
    assert loader(copy, split="val", batch_size=1).next_batch()[0].shape == (1, T)  # the other split still reads


def test_a_token_id_past_the_vocabulary_is_an_integrity_error(counting: Path) -> None:
    # The counting shards hold ids 0, 1, 2, …: with a vocabulary of 100 the fourth window (tokens 96–128) is damaged.
    x, _ = loader(counting, shuffle=False, vocab_size=12_400).next_batch()
    assert torch.equal(x, loader(counting, shuffle=False).next_batch()[0])
    with pytest.raises(
        IntegrityError, match=r"train split holds a token id ≥ the vocabulary size 100 within tokens 96–128"
    ):
        loader(counting, shuffle=False, vocab_size=100).next_batch()
    # the last target of a row counts too: window 0 ends with target 32
    with pytest.raises(IntegrityError, match=r"within tokens 0–32 "):
        loader(counting, shuffle=False, vocab_size=32, batch_size=1).next_batch()


@pytest.mark.parametrize(("world_size", "batch_size", "seq_len"), [(1, 5, T), (2, 5, T), (3, 4, T), (2, 8, 1000)])
def test_fresh_rows_of_an_epoch_are_every_window_once(counting: Path, world_size: int, batch_size: int, seq_len: int):
    """Evaluation scores only a batch's fresh rows: across ranks they must be each window exactly once, although the
    last global batch is filled up from the epoch's start (with 12 windows of 1000, one global batch of 2 × 8 holds
    every window and 4 again)."""
    ranks = [
        loader(
            counting,
            drop_last=False,
            shuffle=False,
            batch_size=batch_size,
            seq_len=seq_len,
            rank=r,
            world_size=world_size,
        )
        for r in range(world_size)
    ]
    seen = []
    for b in range(ranks[0].batches_per_epoch):
        for ld in ranks:
            fresh = ld.fresh_rows(b)
            seen += [int(row[0]) // seq_len for row in ld.next_batch()[0][:fresh]]
    assert sorted(seen) == list(range(ranks[0].num_windows))


@pytest.mark.parametrize("change", [{"shuffle": False}, {"drop_last": False}])
def test_resuming_with_another_order_or_epoch_length_is_refused(counting: Path, change: dict) -> None:
    """Both change which windows (epoch, batch) points at; the state loaded and the run went on elsewhere."""
    first = loader(counting)
    first.next_batch()
    state = first.state_dict()
    with pytest.raises(ConfigError, match=f"saved with {next(iter(change))}=True"):
        loader(counting, **change).load_state_dict(state)
    older = {k: v for k, v in state.items() if k not in ("shuffle", "drop_last")}  # a state from before they were kept
    loader(counting, **change).load_state_dict(older)
