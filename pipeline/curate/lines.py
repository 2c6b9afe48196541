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


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        *lines, pending = (pending + chunk).split(b"\n")
        yield from (ln + b"\n" for ln in lines)
    if pending:
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


def _wide_lines(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """Lines of a UTF-16/32 stream as UTF-8, without its byte-order mark; a lone surrogate passes through (and the
    UTF-8 check rejects its line). A stream that ends inside a character is an EOFError, as a cut-short compressed
    one is, after the line before it."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="surrogatepass")
    pending = ""
    for chunk in chunks:
        *lines, pending = (pending + decoder.decode(chunk)).split("\n")
        yield from ((ln + "\n").encode("utf-8", "surrogatepass") for ln in lines)
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise EOFError(f"{encoding} text ends in the middle of a character") from exc
    if pending:
        yield pending.encode("utf-8", "surrogatepass")


def open_lines(path: str) -> Iterator[bytes]:
    """The lines of a JSONL file as UTF-8 bytes: decompressed, and transcoded when it is in UTF-16 or UTF-32."""
    lower = path.lower()
    with open(path, "rb") as raw:
        if lower.endswith(".zst"):
            chunks = _zstd_chunks(raw)
            first = next(chunks, b"")
            wide = wide_encoding(first[:4], json_text=True)
            rest = itertools.chain([first], chunks)
            yield from _wide_lines(rest, wide) if wide else _split_lines(rest)
            return
        stream = gzip.GzipFile(fileobj=raw) if lower.endswith(".gz") else raw
        wide = wide_encoding(stream.peek(4)[:4], json_text=True)
        yield from _wide_lines(_chunks(stream), wide) if wide else stream


def json_error_detail(exc: json.JSONDecodeError | RecursionError) -> str:
    """Where and why a line is no JSON; a RecursionError is a value nested deeper than Python's parser goes."""
    if isinstance(exc, RecursionError):
        return "values nested deeper than the JSON parser allows"
    return f"{exc.msg} at column {exc.colno}"
