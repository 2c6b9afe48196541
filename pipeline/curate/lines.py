"""The lines of a JSONL file as UTF-8 bytes, whatever its compression (none, gzip, zstd) and Unicode encoding
(UTF-8, or UTF-16/32 as PowerShell's `>` writes it): curation's reader and `lmforge pii` read their inputs with
`open_lines`, and `json_error_detail` says why a line is no JSON. It imports no pyarrow, so `lmforge pii` starts fast.
"""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
from collections.abc import Iterator
from typing import Any

READ_CHUNK = 1 << 20


def _zstd_chunks(f: io.BufferedIOBase) -> Iterator[bytes]:
    """Decompressed chunks of a (multi-frame) zstd stream; raises EOFError if the last frame is cut short."""
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    dobj = dctx.decompressobj()
    in_frame = False  # bytes of the current frame have been fed and its end not seen yet
    while chunk := f.read(READ_CHUNK):
        while chunk:
            in_frame = True
            out = dobj.decompress(chunk)
            chunk = b""
            if dobj.eof:
                chunk, in_frame = dobj.unused_data, False
                dobj = dctx.decompressobj()
            if out:
                yield out
    if in_frame:
        raise EOFError("zstd stream ended before the end of its frame")


def _chunks(f: io.BufferedIOBase) -> Iterator[bytes]:
    while chunk := f.read(READ_CHUNK):
        yield chunk


class CutLine(bytes):
    """The first `limit + 1` bytes of a line longer than the limit `open_lines` was given; `size` is the whole line's
    length. The rest of the line was read past, never held: a multi-GB "line" (a binary file named .jsonl) would
    otherwise be read into memory whole."""

    size: int


def _cut(prefix: bytes, size: int) -> CutLine:
    line = CutLine(prefix)
    line.size = size
    return line


def _capped(stream: io.BufferedIOBase, limit: int) -> Iterator[bytes]:
    """`stream`'s lines, each longer than `limit` bytes as a CutLine. `_split_lines` over 1 MB chunks would do the
    same, but reading a truncated .gz a line at a time gives out its intact lines before the error; a chunk read
    raises before it returns any of them."""
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        size = len(line)
        while (rest := stream.readline(READ_CHUNK)) and not rest.endswith(b"\n"):
            size += len(rest)
        yield _cut(line, size + len(rest))


def _split_lines(chunks: Iterator[bytes], limit: int | None) -> Iterator[bytes]:
    """The lines in a stream of chunks; one longer than `limit` bytes as a CutLine (its rest is skipped)."""
    pending = b""
    cut: list | None = None  # [prefix, size so far] of an overlong line whose end has not come yet
    for chunk in chunks:
        if cut is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                cut[1] += len(chunk)
                continue
            yield _cut(cut[0], cut[1] + nl + 1)
            cut, chunk = None, chunk[nl + 1 :]
        *lines, pending = (pending + chunk).split(b"\n")
        for ln in lines:
            yield ln + b"\n" if limit is None or len(ln) <= limit else _cut(ln[: limit + 1], len(ln) + 1)
        if limit is not None and len(pending) > limit:
            cut, pending = [pending[: limit + 1], len(pending)], b""
    if cut is not None:
        yield _cut(cut[0], cut[1])
    elif pending:
        yield pending


#: Byte-order marks of the wide Unicode encodings, longest first (UTF-32 LE's starts with UTF-16 LE's).
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
              (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip


def wide_encoding(head: bytes, *, json_text: bool = False) -> str | None:
    """The UTF-16/32 encoding `head` (a file's first four bytes) starts in, or None (UTF-8). Without a byte-order
    mark, `json_text` tells them apart as RFC 4627 §3 does: a JSON text starts with two ASCII characters, so where
    the zero bytes of its first four bytes fall gives the encoding away."""
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            return encoding
    if not json_text or len(head) < 4:
        return None
    zeros = tuple(b == 0 for b in head[:4])
    return {
        (False, True, True, True): "utf-32-le",
        (True, True, True, False): "utf-32-be",
        (False, True, False, True): "utf-16-le",
        (True, False, True, False): "utf-16-be",
    }.get(zeros)


_SNIFF_BYTES = 4096
"""Bytes at the start of a text file `unmarked_wide_encoding` looks at."""


def unmarked_wide_encoding(data: bytes) -> str | None:
    """The UTF-16/32 encoding a text without a byte-order mark seems to be in, by where its NUL bytes fall, or None.
    UTF-8 text holds no NUL bytes (or a stray few); UTF-16 text (`iconv -t UTF-16LE` and some exporters write no
    mark) has one in each character's high byte for every ASCII letter, digit, space or newline, and at those high
    bytes next to nothing but NUL and its script's block (0x04 for Cyrillic, 0x03 Greek): Cyrillic text, whose
    spaces and punctuation are ASCII, is told as surely as English, and bytes that merely repeat a NUL at one
    parity (`b"hello\\x00world "` over and over) are not. UTF-32 has two or three NULs in every four bytes. Text in
    scripts without ASCII spaces (CJK) may go unseen: it is then read as UTF-8, which it is not, and rejected."""
    sample = data[:_SNIFF_BYTES]
    sample = sample[: len(sample) // 4 * 4]
    if len(sample) < 4 or sample.count(0) * 20 < len(sample):  # under 5 % NUL bytes: not wide text
        return None
    share = [sample[i::4].count(0) * 4 / len(sample) for i in range(4)]  # NUL share at each position mod 4
    if share[2] > 0.9 and share[3] > 0.9 and share[0] < 0.05:
        return "utf-32-le"
    if share[0] > 0.9 and share[1] > 0.9 and share[3] < 0.05:
        return "utf-32-be"
    for high, encoding in ((1, "utf-16-le"), (0, "utf-16-be")):
        highs, lows = sample[high::2], sample[1 - high :: 2]
        if lows.count(0) * 100 > len(lows) or highs.count(0) * 10 < len(highs):  # NUL lows over 1 %, highs under 10 %
            continue
        block = max(set(highs) - {0}, key=highs.count, default=0)  # the script's block, beside ASCII's 0x00
        if (highs.count(0) + (highs.count(block) if block else 0)) * 10 >= len(highs) * 9:
            return encoding
    return None


def _utf8_chunks(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """A UTF-16/32 stream's chunks as UTF-8, without its byte-order mark; a lone surrogate passes through (and the
    UTF-8 check rejects its line). A stream that ends inside a character is an EOFError, as a cut-short compressed
    one is: raised before the unfinished last line is given out."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogatepass")
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8", "surrogatepass")
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise EOFError(f"{encoding} text ends in the middle of a character") from exc
    if tail:
        yield tail.encode("utf-8", "surrogatepass")


_GZIP_MAGIC, _ZSTD_MAGIC = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


def _skippable_frame(head: bytes) -> bool:
    """Whether `head` starts a zstd skippable frame (magic 0x184D2A50-5F, little-endian): `pzstd` writes one before
    each frame, so its output starts with one, not with a frame's magic."""
    return len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"


def _compression(head: bytes, name: str) -> str | None:
    """The compression (gzip, zstd or None) of a file whose first bytes are `head`: by its magic number where it has
    one (no JSON text in UTF-8 or UTF-16/32 starts with either, and a download tool that does not decompress leaves
    gzip in a `.jsonl`), else by its name, so a `.gz` that is not gzip is reported as damaged."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC) or _skippable_frame(head):
        return "zstd"
    lower = name.lower()
    return "gzip" if lower.endswith(".gz") else "zstd" if lower.endswith(".zst") else None


def misnamed(path: str) -> str | None:
    """Why a file named `.gz`/`.zst` cannot be decompressed when its bytes are not that format at all (plain JSONL
    named `.jsonl.gz`, say): a reader's error says so instead of calling the stream damaged. None otherwise."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return None
    if not head or _compression(head, "") is not None:
        return None
    kind = _compression(head, path)
    if kind is None:
        return None
    ext = ".gz" if kind == "gzip" else ".zst"
    return f"not {kind} data, though the name ends in {ext} (it starts with {head!r}): rename or compress it"


def open_lines(path: str, max_line: int | None = None) -> Iterator[bytes]:
    """The lines of a JSONL file as UTF-8 bytes: decompressed (gzip or zstd, told by content or else by name), and
    transcoded when it is in UTF-16 or UTF-32. With `max_line`, a longer line comes as a `CutLine` of its first
    `max_line + 1` bytes (memory stays bounded)."""
    with open(path, "rb") as raw:
        compression = _compression(raw.peek(4)[:4], path)
        if compression == "zstd":
            chunks = _zstd_chunks(raw)
            first = next(chunks, b"")
            wide = wide_encoding(first[:4], json_text=True)
            rest = itertools.chain([first], chunks)
            yield from _split_lines(_utf8_chunks(rest, wide) if wide else rest, max_line)
            return
        stream = gzip.GzipFile(fileobj=raw) if compression == "gzip" else raw
        wide = wide_encoding(stream.peek(4)[:4], json_text=True)
        if wide:
            yield from _split_lines(_utf8_chunks(_chunks(stream), wide), max_line)
        else:
            yield from stream if max_line is None else _capped(stream, max_line)


def loads_after_mark(line: str, exc: ValueError | RecursionError) -> tuple[Any, ValueError | RecursionError | None]:
    """A line `json.loads` refused, parsed again without a leading byte-order mark → (object, None), or (None, the
    error). `cat a.jsonl b.jsonl` puts b's mark (a Windows tool's) at the start of a line: an encoding mark there
    too, as on line 1. Done only for a line that failed, so the lines that parse pay nothing for it."""
    if not line.startswith("\ufeff"):
        return None, exc
    try:
        return json.loads(line[1:]), None
    except (ValueError, RecursionError) as again:
        return None, again


def json_error_detail(exc: ValueError | RecursionError, line: str | None = None) -> str:
    """Where and why a line is no JSON; a RecursionError is a value nested deeper than Python's parser goes, and a
    plain ValueError an integer longer than Python converts (its advice to raise the limit is for programmers).
    Given the `line`, a carriage return inside it (no JSON string holds one unescaped) is named as the likely cause:
    a file whose records end in CR alone (classic Mac OS, some exports) is one "line" of many records."""
    if isinstance(exc, RecursionError):
        detail = "values nested deeper than the JSON parser allows"
    elif isinstance(exc, json.JSONDecodeError):
        detail = f"{exc.msg} at column {exc.colno}"
    else:
        detail = f"a number too long to read: {str(exc).partition(';')[0]}"
    if line is not None and "\r" in line.rstrip("\r\n"):
        detail += (
            "; the line holds carriage returns (CR): its records seem to be separated by CR only, not by newlines"
            " (convert them, e.g. `tr '\\r' '\\n' < IN > OUT`)"
        )
    return detail
