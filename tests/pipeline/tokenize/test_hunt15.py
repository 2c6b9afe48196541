"""A snapshot data file changed in place after its manifest (pipeline/tokenize/sampling.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.pipeline.errors import InputError, IntegrityError
from lmforge.pipeline.tokenize.config import ShardsConfig, TokenizerConfig
from lmforge.pipeline.tokenize.shards import build_shards
from lmforge.pipeline.tokenize.trainer import train_tokenizer
from tests.support.snapshots import make_snapshot, stdlib_docs


def _changed_in_place(workspace: Path) -> tuple[Path, Path]:
    """A fresh snapshot with one byte of its data file flipped mid-file: same size, still decodable Parquet."""
    snapshot = make_snapshot(workspace, stdlib_docs(max_chars=30_000), files=1)
    part = snapshot / "data" / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    return snapshot, part


def test_shards_of_a_snapshot_changed_after_its_manifest_are_an_integrity_error(tmp_path, tokenizer) -> None:
    """Only sizes were checked: a byte changed in a data page mostly still decodes (pages carry no checksum), and
    shards of the changed text were built and named after the snapshot."""
    snapshot, part = _changed_in_place(tmp_path / "ws")
    with pytest.raises(IntegrityError, match=rf"{part.name}: .*sha256 differs") as caught:
        build_shards(snapshot, tokenizer, tmp_path / "ws", ShardsConfig(), workers=1)
    assert isinstance(caught.value, InputError) and str(part) in str(caught.value)
    assert not list((tmp_path / "ws").glob("shards/*/manifest.json"))


def test_a_tokenizer_of_a_snapshot_changed_after_its_manifest_is_not_trained(tmp_path) -> None:
    snapshot, part = _changed_in_place(tmp_path / "ws")
    config = TokenizerConfig(vocab_size=400, sample_chars=30_000, min_sample_chars=1_000, num_threads=1)
    with pytest.raises(IntegrityError, match=rf"{part.name}: .*sha256 differs"):
        train_tokenizer(snapshot, tmp_path / "ws", config)
    assert not list((tmp_path / "ws").glob("tokenizers/*/manifest.json"))
