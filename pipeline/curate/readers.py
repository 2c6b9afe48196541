"""Readers: JSONL (plain, .gz, .zst), Parquet and text files → raw records, or rejects that say what was wrong.

A reader never raises on bad data inside a file: it yields a `Reject` naming the file and line/row and goes on
(or stops, for a truncated compressed stream, after yielding what was intact). Decoding happens here because JSON
must be decoded before it can be parsed.
"""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.curate.config import CleanConfig, FieldsConfig
from lmforge.pipeline.curate.document import Reject
from lmforge.pipeline.curate.inputs import InputUnit

READ_CHUNK = 1 << 20


@dataclass(slots=True)
class RawRecord:
    source: str
    path: str
    line: int | None
    record_id: str | None
    text: str
    url: str | None = None
    created_at: Any = None


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


def _open_lines(path: str) -> Iterator[bytes]:
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


def decode(data: bytes, policy: str, encoding: str = "utf-8") -> tuple[str | None, str | None]:
    """Decode (UTF-8 unless told otherwise) under the configured policy → (text, error detail)."""
    try:
        return data.decode(encoding), None
    except UnicodeDecodeError as exc:
        detail = f"invalid {encoding.upper()} at byte {exc.start}"
        if policy == "replace":
            return data.decode(encoding, errors="replace"), None
        return None, detail


def _lookup(obj: dict, name: str) -> Any:
    """`obj[name]`; a name with dots that is no key of its own walks nested objects, so `meta.url` reads
    RedPajama's `{"meta": {"url": …}}` (and a Parquet struct column). Absent anywhere on the way: None."""
    value = obj.get(name)
    if value is None and "." in name and name not in obj:
        value = obj
        for part in name.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
    return value


def _parquet_column(name: str, schema: pa.Schema) -> str | None:
    """The top-level column holding field `name` (itself, or for `meta.url` a struct `meta` with a child `url`)."""
    if name in schema.names:
        return name
    head, *rest = name.split(".")
    if not rest or head not in schema.names:
        return None
    kind = schema.field(head).type
    for part in rest:
        if not pa.types.is_struct(kind) or kind.get_field_index(part) < 0:
            return None
        kind = kind.field(part).type
    return head


def _field_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):  # a Parquet BINARY column (see `RecordReader._record`)
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


class RecordReader:
    """Reads one InputUnit into RawRecords and Rejects."""

    def __init__(self, fields: FieldsConfig, clean: CleanConfig) -> None:
        self.fields = fields
        self.clean = clean

    def read(self, unit: InputUnit) -> Iterator[RawRecord | Reject]:
        try:
            if unit.kind == "jsonl":
                yield from self._jsonl(unit)
            elif unit.kind == "parquet":
                yield from self._parquet(unit)
            elif unit.kind == "textdir":
                for f in unit.files:
                    yield from self._text_file(unit.source, f)
            elif unit.kind == "text":
                yield from self._text_file(unit.source, unit.path)
            elif unit.kind == "bad_name":
                yield Reject(
                    unit.source,
                    unit.path,
                    None,
                    "read",
                    "unreadable",
                    "file name is not valid UTF-8; rename it, e.g. with `convmv -f latin1 -t utf8 -r --notest DIR`",
                )
            elif unit.kind == "empty_dir":
                yield Reject(unit.source, unit.path, None, "read", "no_matching_files", "folder holds no input files")
            else:
                yield Reject(
                    unit.source,
                    unit.path,
                    None,
                    "read",
                    "unknown_format",
                    "unknown extension; expected .jsonl[.gz|.zst], .parquet or a text file",
                )
        except OSError as exc:  # permission denied, dangling link, I/O error: the file, not a record, is bad
            yield Reject(
                unit.source,
                getattr(exc, "filename", None) or unit.path,
                None,
                "read",
                "unreadable",
                f"cannot read file: {exc.strerror or exc}",
            )

    def _record(self, source: str, path: str, line: int, obj: dict) -> RawRecord | Reject:
        f = self.fields
        text = _lookup(obj, f.text)
        rid = _field_str(_lookup(obj, f.id))
        src = _field_str(_lookup(obj, f.source)) or source
        if text is None:
            return Reject(src, path, line, "read", "missing_text", f"no {f.text!r} field", doc_id=None)
        if isinstance(text, bytes):
            # Older Spark and Hive store strings as Parquet BINARY without the UTF8 annotation: bytes, decoded
            # under the configured policy as a JSONL line is.
            decoded, err = decode(text, self.clean.invalid_utf8)
            if decoded is None:
                return Reject(src, path, line, "read", "invalid_utf8", err, text=text.decode("utf-8", errors="replace"))
            text = decoded
        if not isinstance(text, str):
            return Reject(src, path, line, "read", "text_not_string", f"{f.text!r} is {type(text).__name__}")
        if len(text) > self.clean.max_bytes:  # chars ≤ bytes, so this is a cheap lower bound on size
            return Reject(src, path, line, "read", "too_large", f"{len(text)} characters > clean.max_bytes", text=text)
        return RawRecord(src, path, line, rid, text, _field_str(_lookup(obj, f.url)), _lookup(obj, f.created_at))

    def _jsonl(self, unit: InputUnit) -> Iterator[RawRecord | Reject]:
        n = 0
        damaged = False
        try:
            for n, raw in enumerate(_open_lines(unit.path), start=1):
                if n == 1 and raw.startswith(codecs.BOM_UTF8):  # an encoding mark (Windows tools write it)
                    raw = raw[len(codecs.BOM_UTF8) :]
                if len(raw) > self.clean.max_bytes:
                    text, _ = decode(raw, "replace")
                    yield Reject(
                        unit.source,
                        unit.path,
                        n,
                        "read",
                        "too_large",
                        f"line of {len(raw)} bytes > clean.max_bytes",
                        text=text,
                    )
                    continue
                if raw.isspace():  # a blank line (`raw.strip()` would copy every line to find out)
                    continue
                line, err = decode(raw, self.clean.invalid_utf8)
                if line is None:
                    yield Reject(
                        unit.source,
                        unit.path,
                        n,
                        "read",
                        "invalid_utf8",
                        err,
                        text=raw.decode("utf-8", errors="replace"),
                    )
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Reject(
                        unit.source,
                        unit.path,
                        n,
                        "read",
                        "malformed_json",
                        f"{exc.msg} at column {exc.colno}",
                        text=line,
                    )
                    continue
                if not isinstance(obj, dict):
                    yield Reject(
                        unit.source,
                        unit.path,
                        n,
                        "read",
                        "not_an_object",
                        f"JSON {type(obj).__name__}, expected an object",
                        text=line,
                    )
                    continue
                yield self._record(unit.source, unit.path, n, obj)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            damaged = True
            yield Reject(
                unit.source,
                unit.path,
                n + 1,
                "read",
                "truncated_file",
                f"compressed stream is damaged or cut short after line {n}: {exc}",
            )
        except Exception as exc:  # zstandard.ZstdError has no stable import path across versions
            if type(exc).__name__ != "ZstdError":
                raise
            damaged = True
            yield Reject(
                unit.source, unit.path, n + 1, "read", "truncated_file", f"zstd stream is damaged after line {n}: {exc}"
            )
        if n == 0 and not damaged:  # a stream cut short before its first line is reported once, as truncated
            yield Reject(unit.source, unit.path, None, "read", "empty_file", "file holds no records")

    def _parquet(self, unit: InputUnit) -> Iterator[RawRecord | Reject]:
        f = self.fields
        try:
            pf = pq.ParquetFile(unit.path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError for non-Parquet bytes
            yield Reject(unit.source, unit.path, None, "read", "unreadable", f"not a readable Parquet file: {exc}")
            return
        schema = pf.schema_arrow
        if _parquet_column(f.text, schema) is None:
            yield Reject(
                unit.source,
                unit.path,
                None,
                "read",
                "missing_text_column",
                f"no column {f.text!r} (columns: {sorted(schema.names)}); set curate.fields.text",
            )
            return
        found = (_parquet_column(c, schema) for c in (f.id, f.text, f.url, f.created_at, f.source))
        cols = list(dict.fromkeys(c for c in found if c is not None))
        row = 0
        for rg in range(pf.num_row_groups):
            for obj in pf.read_row_group(rg, columns=cols).to_pylist():
                row += 1
                yield self._record(unit.source, unit.path, row, obj)
        if row == 0:
            yield Reject(unit.source, unit.path, None, "read", "empty_file", "file holds no rows")

    def _text_file(self, source: str, path: str) -> Iterator[RawRecord | Reject]:
        p = Path(path)
        size = p.stat().st_size
        if size > self.clean.max_bytes:
            yield Reject(source, path, None, "read", "too_large", f"{size} bytes > clean.max_bytes")
            return
        data = p.read_bytes()
        if not data.strip():
            yield Reject(source, path, None, "read", "empty_file", "file is empty")
            return
        wide = wide_encoding(data[:4])  # a byte-order mark: Notepad's "Unicode" is UTF-16
        text, err = decode(data, self.clean.invalid_utf8, wide or "utf-8")
        if text is None:
            yield Reject(
                source, path, None, "read", "invalid_utf8", err, text=data.decode(wide or "utf-8", errors="replace")
            )
            return
        yield RawRecord(source, path, None, p.name, text)
