"""Bad shard files, through `schemas/shards.read_header` (the check every reader goes through)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from lmforge.pipeline.errors import IntegrityError
from lmforge.schemas.shards import HEADER_SIZE, SHARD_VERSION, ShardWriter, dtype_for_vocab, open_tokens, read_header

SHA = "ab" * 32


def write(path: Path, tokens: list[int], itemsize: int = 2) -> Path:
    writer = ShardWriter(path, itemsize, SHA)
    writer.write(np.asarray(tokens), docs=1)
    writer.close()
    return path


def test_dtype_for_vocab_boundary():
    assert dtype_for_vocab(65_535) == np.uint16
    assert dtype_for_vocab(65_536) == np.uint16  # ids 0..65,535: the largest is uint16's maximum
    assert dtype_for_vocab(65_537) == np.uint32
    assert np.iinfo(dtype_for_vocab(65_536)).max == 65_535


@pytest.mark.parametrize("itemsize", [2, 4])
def test_writer_round_trip(tmp_path, itemsize):
    tokens = [5, 6, 70_000 if itemsize == 4 else 7, 3]
    header = read_header(write(tmp_path / "s.bin", tokens, itemsize), expect_tokenizer=SHA)
    assert (header.token_count, header.doc_count, header.itemsize, header.format_version) == (
        4,
        1,
        itemsize,
        SHARD_VERSION,
    )
    assert open_tokens(tmp_path / "s.bin").tolist() == tokens


def test_other_tokenizer(tmp_path):
    with pytest.raises(IntegrityError, match="written with tokenizer abababababab"):
        read_header(write(tmp_path / "s.bin", [5, 3]), expect_tokenizer="cd" * 32)


def test_truncated(tmp_path):
    path = write(tmp_path / "s.bin", [5, 6, 7, 3])
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IntegrityError, match="truncated"):
        read_header(path)
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(IntegrityError, match="shorter than a shard header"):
        read_header(path)


def test_wrong_magic(tmp_path):
    path = write(tmp_path / "s.bin", [5, 3])
    path.write_bytes(b"NOTTOKS\0" + path.read_bytes()[8:])
    with pytest.raises(IntegrityError, match="not an lmforge token shard"):
        read_header(path)


@pytest.mark.parametrize(("version", "says"), [(SHARD_VERSION + 1, "is newer"), (0, "was never written")])
def test_version_outside_the_written_ones(tmp_path, version, says):
    path = write(tmp_path / "s.bin", [5, 3])
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, version)
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"version {version} {says}"):
        read_header(path)
    assert len(data) == HEADER_SIZE + 4


def test_missing_file_names_it_and_says_what_to_do(tmp_path):
    path = tmp_path / "shards" / "abc" / "train-00001.bin"
    with pytest.raises(IntegrityError, match=r"train-00001\.bin: shard file missing; rebuild the shards"):
        read_header(path)
    with pytest.raises(IntegrityError, match=r"train-00001\.bin: shard file missing"):
        open_tokens(path)
