"""Token shard file format: a fixed 64-byte little-endian header, then the tokens (DESIGN.md, "Token shards").

offset size  field
0      8     magic  b"LMFTOKS\\0"
8      4     format_version (uint32)
12     4     itemsize: 2 (uint16 tokens) or 4 (uint32 tokens)
16     8     token_count (uint64)
24     8     doc_count (uint64)
32     32    tokenizer digest: raw sha256 of the sentencepiece model file
64     ...   token_count tokens; documents separated by the EOS id
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

MAGIC = b"LMFTOKS\0"
SHARD_VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<8sIIQQ32s")
assert _HEADER.size == HEADER_SIZE
SHARDS_FORMAT = "lmforge.shards"

#: Companion `X.docs.parquet` next to each shard `X.bin`: one row per document, in shard order. Evaluation uses it
#: for per-language loss and bits-per-byte.
DOCS_SCHEMA = pa.schema(
    [
        pa.field("offset", pa.int64(), nullable=False),  # token offset of the document's first token in the shard
        pa.field("n_tokens", pa.int32(), nullable=False),  # tokens of the document, BOS/EOS included
        pa.field("n_bytes", pa.int64(), nullable=False),  # UTF-8 bytes of the document text
        pa.field("lang", pa.string(), nullable=False),
    ]
)


def docs_path(shard: str | Path) -> Path:
    """`train-00000.bin` → `train-00000.docs.parquet`."""
    shard = Path(shard)
    return shard.with_name(shard.stem + ".docs.parquet")


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (ids run from 0 to vocab_size - 1, so up to a vocab of 65,536), else uint32.

    Readers take the width from each shard's header, so shards written with either width stay readable."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


@dataclass(frozen=True, slots=True)
class ShardHeader:
    token_count: int
    doc_count: int
    itemsize: int
    tokenizer_sha256: str
    format_version: int = SHARD_VERSION

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint16) if self.itemsize == 2 else np.dtype(np.uint32)

    def pack(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            self.format_version,
            self.itemsize,
            self.token_count,
            self.doc_count,
            bytes.fromhex(self.tokenizer_sha256),
        )


def read_header(path: str | Path, expect_tokenizer: str | None = None) -> ShardHeader:
    """Read and check a shard header: magic, version, dtype, size vs token count, and (optionally) tokenizer."""
    from lmforge.pipeline.errors import IntegrityError

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_SIZE)
    except FileNotFoundError as exc:
        raise IntegrityError(
            f"{path}: shard file missing; rebuild the shards (lmforge shards build) or copy the whole shards folder "
            "again"
        ) from exc
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read the shard file ({exc})") from exc
    if len(raw) < HEADER_SIZE:
        raise IntegrityError(f"{path}: {size} bytes is shorter than a shard header ({HEADER_SIZE}); truncated file")
    magic, version, itemsize, count, docs, tok = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise IntegrityError(f"{path}: not an lmforge token shard (magic {magic!r})")
    if version > SHARD_VERSION:
        raise IntegrityError(f"{path}: shard format version {version} is newer than supported ({SHARD_VERSION})")
    if version < 1:  # no lmforge ever wrote it: the magic matched by chance or the header is damaged
        raise IntegrityError(f"{path}: shard format version {version} was never written; a damaged or foreign file")
    if itemsize not in (2, 4):
        raise IntegrityError(f"{path}: invalid token size {itemsize} in header")
    expected = HEADER_SIZE + count * itemsize
    if size != expected:
        raise IntegrityError(f"{path}: {size} bytes but header promises {count} tokens ({expected} bytes); truncated")
    header = ShardHeader(count, docs, itemsize, tok.hex(), version)
    if expect_tokenizer is not None and header.tokenizer_sha256 != expect_tokenizer:
        raise IntegrityError(
            f"{path}: written with tokenizer {header.tokenizer_sha256[:12]}…, not the given {expect_tokenizer[:12]}…"
        )
    return header


def open_tokens(path: str | Path, expect_tokenizer: str | None = None) -> np.memmap:
    """Memory-map a shard's tokens (read-only) after checking its header."""
    header = read_header(path, expect_tokenizer)
    return np.memmap(path, dtype=header.dtype, mode="r", offset=HEADER_SIZE, shape=(header.token_count,))


class ShardWriter:
    """Write one shard: a provisional header, the tokens as they come, then the final header on close."""

    def __init__(self, path: str | Path, itemsize: int, tokenizer_sha256: str) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(np.uint16) if itemsize == 2 else np.dtype(np.uint32)
        self.tokenizer_sha256 = tokenizer_sha256
        self.token_count = 0
        self.doc_count = 0
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(self._header().pack())

    def _header(self) -> ShardHeader:
        return ShardHeader(self.token_count, self.doc_count, self.dtype.itemsize, self.tokenizer_sha256)

    def write(self, tokens: np.ndarray, docs: int) -> None:
        """Append the tokens of `docs` whole documents (EOS-terminated)."""
        self._file.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.token_count += len(tokens)
        self.doc_count += docs

    def close(self) -> ShardHeader:
        header = self._header()
        self._file.seek(0)
        self._file.write(header.pack())
        self._file.close()
        return header
