"""Readers: JSONL (plain, .gz, .zst), Parquet and text files → raw records, or rejects that say what was wrong.

A reader never raises on bad data inside a file: it yields a `Reject` naming the file and line/row and goes on
(or stops, for a truncated compressed stream, after yielding what was intact). Decoding happens here because JSON
must be decoded before it can be parsed.
"""

from __future__ import annotations

import codecs
import datetime
import gzip
import json
import math
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.curate.config import CleanConfig, FieldsConfig
from lmforge.pipeline.curate.document import Reject
from lmforge.pipeline.curate.inputs import InputUnit
from lmforge.pipeline.curate.lines import (
    CutLine,
    json_error_detail,
    loads_after_mark,
    misnamed,
    open_lines,
    unmarked_wide_encoding,
    wide_encoding,
)

PARQUET_BATCH_ROWS = 256
"""Rows of a Parquet file made into records at a time."""


@dataclass(slots=True)
class RawRecord:
    source: str
    path: str
    line: int | None
    record_id: str | None
    text: str
    url: str | None = None
    created_at: Any = None


def _unreadable(source: str, path: str, exc: OSError) -> Reject:
    where = getattr(exc, "filename", None) or path
    what = "folder" if os.path.isdir(where) else "file"
    return Reject(source, where, None, "read", "unreadable", f"cannot read {what}: {exc.strerror or exc}")


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


_INTEGRAL_FLOAT_MAX = 2.0**53
"""Past this a float holds no exact integer: an id such as 1e300 keeps its float spelling."""


def _field_str(value: Any) -> str | None:
    """An id, URL or source field as a string. Values that are no string are spelled as JSON writes them, not as
    Python's `str` does (`True`, `{'a': 1}`): `true`, and a float with an integral value as an integer, as JSON
    means it and JavaScript's `JSON.stringify` writes it, so `{"id": 7.0}` and a pandas float64 id column (an
    integer column with a missing value) give the id `7` that `{"id": 7}` gives."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        # NaN is how pandas (and `json.dumps` of its rows) writes a missing id or URL: no id, not the id "nan"
        # that every such record would share (each but the first then rejected as a duplicate id).
        return None
    if isinstance(value, bytes):  # a Parquet BINARY column (see `RecordReader._record`)
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) <= _INTEGRAL_FLOAT_MAX else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list | tuple):  # a JSON object or array, or a Parquet struct or list column
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):  # Parquet temporal columns
        return value.isoformat()
    return str(value)  # a Parquet decimal (`1.50`) and the like


def _as_py(value: pa.Scalar) -> Any:
    try:
        return value.as_py()
    except (OverflowError, ValueError):
        return None


def _pylist_leniently(batch: pa.RecordBatch) -> list[dict]:
    """`batch.to_pylist()` with each value Python cannot hold as None: Parquet timestamps and dates reach far past
    the year 9999 where `datetime` stops (a sentinel, or milliseconds written as seconds). Such a `created_at` is no
    date, as an unparseable string is, and the row is read as usual."""
    columns = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            columns[name] = column.to_pylist()
        except (OverflowError, ValueError):
            columns[name] = [_as_py(v) for v in column]
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


_TAR_DETAIL = "a tar archive, not JSONL: extract it (`tar xf FILE`) and curate the files it holds"

_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "true/false"}


def _not_an_object(obj: Any) -> str:
    """Why a JSON value is no record. A line that is an array of objects is a JSON file's records on one line (a
    `.json` renamed `.jsonl`, or `json.dump` of a list): say how to make it one record per line."""
    kind = "null" if obj is None else _JSON_TYPES.get(type(obj), type(obj).__name__)
    detail = f"JSON {kind}, expected an object"
    if isinstance(obj, list) and obj and all(isinstance(v, dict) for v in obj):
        detail += f" (an array of {len(obj)} objects: write one object per line, e.g. `jq -c '.[]' IN > OUT`)"
    return detail


def _parquet_failure(path: str, exc: Exception) -> str:
    """Why a file cannot be opened as Parquet. Its footer (the schema and where each row group lies) is at the end:
    a file that starts as Parquet and ends otherwise was cut short (an interrupted copy or download), which pyarrow
    reports only as missing "magic bytes"."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4))
            tail = f.read(4)
    except OSError:
        head = tail = b""
    if head == b"PAR1" and tail != b"PAR1":
        return "Parquet file cut short: it starts as Parquet but its footer (at the end) is missing; copy it again"
    return f"not a readable Parquet file: {exc}"


_SNIFF_BYTES = 4096
"""Bytes at the start of a text file `unmarked_utf16_cjk` looks at."""
#: Half-open [start, end) ranges of what UTF-16 East Asian text is made of: controls that are whitespace, ASCII,
#: general punctuation (quotes, dashes, ellipsis), CJK punctuation and kana, Hangul jamo, bopomofo extensions and
#: katakana extensions, CJK ideographs (extension A, unified, compatibility), Hangul syllables, vertical forms and
#: fullwidth/halfwidth forms. A surrogate pair (a supplementary ideograph) counts as two units outside.
_EAST_ASIAN_TEXT = np.array(
    [0x09, 0x0E, 0x20, 0x7F, 0x2000, 0x2070, 0x3000, 0x3100, 0x3130, 0x3190, 0x31A0, 0x3200, 0x3400, 0x4DC0, 0x4E00,
     0xA000, 0xAC00, 0xD7A4, 0xF900, 0xFB00, 0xFE30, 0xFE50, 0xFF00, 0xFFF0],
    dtype=np.uint16,
)  # fmt: skip
#: The same without ASCII, controls and general punctuation: the East Asian characters proper.
_EAST_ASIAN_ONLY = _EAST_ASIAN_TEXT[6:]
#: Line breaks, spaces and East Asian punctuation (、。「」，！？): real text holds some, while a double-byte legacy
#: encoding read as UTF-16 holds none (Shift_JIS pairs read big-endian are all ideographs, U+8140-9FFC).
_BREAKS = np.array([0x09, 0x0E, 0x20, 0x21, 0x3000, 0x3040, 0xFF01, 0xFF21, 0xFF3B, 0xFF41, 0xFF5B, 0xFF66],
                   dtype=np.uint16)  # fmt: skip


def unmarked_utf16_cjk(data: bytes) -> str | None:
    """The encoding (`utf-16-le` or `utf-16-be`) of Chinese, Japanese or Korean text in UTF-16 without a byte-order
    mark, else None. `unmarked_wide_encoding` finds UTF-16 by the NUL high bytes of ASCII characters, which CJK text
    has too few of (no spaces between words); its text was then read as UTF-8 and rejected.

    Only bytes that are not UTF-8 are looked at (UTF-8 text never is UTF-16 here), and in one byte order they must
    decode to East Asian text: at least 95 % of the code units in its blocks (or ASCII, whitespace, punctuation),
    30 % in its own blocks (a byte-swapped reading scatters them over all of Unicode) and 1 % line breaks, spaces or
    East Asian punctuation (Shift_JIS read as UTF-16 is ideographs only). Text in a single-byte
    encoding (Latin-1, cp1252) read as UTF-16 pairs its ASCII letters into CJK ideographs (U+6100-7AFF) too; there
    nearly every code unit is two printable ASCII bytes, in real CJK text at most ~70 % (kana-heavy Japanese)."""
    sample = data[:_SNIFF_BYTES]
    if len(data) % 2 or len(sample) < 4:
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return None
    except UnicodeDecodeError:
        pass
    raw = np.frombuffer(sample, dtype=np.uint8).reshape(-1, 2)
    printable = (raw >= 0x20) & (raw < 0x7F)
    if np.count_nonzero(printable.all(axis=1)) >= 0.8 * len(raw):
        return None
    for order, encoding in (("<u2", "utf-16-le"), (">u2", "utf-16-be")):
        units = np.frombuffer(sample, dtype=order)
        if np.count_nonzero(_in_ranges(units, _EAST_ASIAN_TEXT)) < 0.95 * len(units):
            continue
        if np.count_nonzero(_in_ranges(units, _EAST_ASIAN_ONLY)) < 0.3 * len(units):
            continue
        if np.count_nonzero(_in_ranges(units, _BREAKS)) >= max(1, 0.01 * len(units)):
            return encoding
    return None


def _in_ranges(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    return np.searchsorted(bounds, values, side="right") % 2 == 1


_UNREAD = {
    "bad_name": (
        "unreadable",
        "file name is not valid UTF-8; rename it, e.g. with `convmv -f latin1 -t utf8 -r --notest DIR`",
    ),
    "special": ("unreadable", "not a regular file (a FIFO, socket or device), so not read: it could block forever"),
    "empty_dir": ("no_matching_files", "folder holds no input files"),
    "unknown": ("unknown_format", "unknown extension; expected .jsonl[.gz|.zst], .parquet or a text file"),
}
"""(reason, detail) of the reject of each kind of input unit that is not read (`inputs.InputUnit.kind`)."""


class RecordReader:
    """Reads one InputUnit into RawRecords and Rejects."""

    def __init__(self, fields: FieldsConfig, clean: CleanConfig) -> None:
        self.fields = fields
        self.clean = clean
        # The text field's top-level key as a JSON line spells it: a line naming it twice is parsed again to see
        # whether the record holds it twice (`_duplicate_text_key`).
        self._text_token = json.dumps(fields.text.split(".")[0], ensure_ascii=False)

    def _duplicate_text_key(self, line: str) -> bool:
        """Whether `line`'s object holds the text field's key twice. Python keeps the last of the two values (as jq
        and JavaScript do), so a document's text was dropped without a word; which one the writer meant is unknown,
        so the line is a reject holding both. Only a line that spells the key twice (it may be a nested key or a
        string value too) is parsed again: the others cost one substring count (~2 µs in a 5 kB line, ~1 % of its
        curation). A duplicate id is left to Python's rule: the record keeps its text, under the last id."""
        if line.count(self._text_token) < 2:
            return False
        keys = [k for k, _ in json.loads(line.lstrip("\ufeff"), object_pairs_hook=list)]
        return keys.count(json.loads(self._text_token)) > 1

    def read(self, unit: InputUnit) -> Iterator[RawRecord | Reject]:
        try:
            if unit.kind == "jsonl":
                yield from self._jsonl(unit)
            elif unit.kind == "parquet":
                yield from self._parquet(unit)
            elif unit.kind == "textdir":
                for f in unit.files:
                    try:
                        yield from self._text_file(unit.source, f, unit.path)
                    except OSError as exc:  # one unreadable file: the folder's other files are still read
                        yield _unreadable(unit.source, f, exc)
            elif unit.kind == "text":
                yield from self._text_file(unit.source, unit.path)
            else:  # a unit nothing is read from: one reject saying why
                if unit.kind == "unknown":
                    os.stat(unit.path)  # a dangling link or a link loop: its OSError is the reason, not the name
                reason, detail = _UNREAD.get(unit.kind, _UNREAD["unknown"])
                yield Reject(unit.source, unit.path, None, "read", reason, detail)
        except OSError as exc:  # permission denied, dangling link, I/O error: the file, not a record, is bad
            yield _unreadable(unit.source, unit.path, exc)

    def _record(self, source: str, path: str, line: int, obj: dict) -> RawRecord | Reject:
        f = self.fields
        text = _lookup(obj, f.text)
        rid = _field_str(_lookup(obj, f.id))
        src = _field_str(_lookup(obj, f.source)) or source
        if text is None:
            missing = f"{f.text!r} is null" if f.text in obj else f"no {f.text!r} field"  # a Parquet null: no text
            return Reject(src, path, line, "read", "missing_text", missing, record_id=rid)
        if isinstance(text, bytes):
            # Older Spark and Hive store strings as Parquet BINARY without the UTF8 annotation: bytes, decoded
            # under the configured policy as a JSONL line is.
            decoded, err = decode(text, self.clean.invalid_utf8)
            if decoded is None:
                shown = text.decode("utf-8", errors="replace")
                return Reject(src, path, line, "read", "invalid_utf8", err, text=shown, record_id=rid)
            text = decoded
        if not isinstance(text, str):
            detail = f"{f.text!r} is {type(text).__name__}"
            return Reject(src, path, line, "read", "text_not_string", detail, record_id=rid)
        if len(text) > self.clean.max_bytes:  # chars ≤ bytes, so this is a cheap lower bound on size
            detail = f"{len(text)} characters > clean.max_bytes"
            return Reject(src, path, line, "read", "too_large", detail, text=text, record_id=rid)
        return RawRecord(src, path, line, rid, text, _field_str(_lookup(obj, f.url)), _lookup(obj, f.created_at))

    def _jsonl(self, unit: InputUnit) -> Iterator[RawRecord | Reject]:
        n = blank = 0
        damaged = False
        try:
            # A line past max_bytes is read only that far (a CutLine): its rest is skipped, never held.
            for n, raw in enumerate(open_lines(unit.path, self.clean.max_bytes), start=1):
                size = raw.size if isinstance(raw, CutLine) else len(raw)
                if n == 1 and raw[257:262] == b"ustar":  # a tar header's magic: `data.jsonl.gz` made by `tar czf`
                    yield Reject(unit.source, unit.path, None, "read", "unknown_format", _TAR_DETAIL)
                    return
                if n == 1 and raw.startswith(codecs.BOM_UTF8):  # an encoding mark (Windows tools write it)
                    raw, size = raw[len(codecs.BOM_UTF8) :], size - len(codecs.BOM_UTF8)
                    if not raw:  # the file is the mark alone: Notepad's empty UTF-8 file
                        blank += 1
                        continue
                if size > self.clean.max_bytes:
                    text, _ = decode(raw, "replace")
                    cut = f"; its first {len(raw)} bytes are in the reject" if len(raw) < size else ""
                    yield Reject(
                        unit.source,
                        unit.path,
                        n,
                        "read",
                        "too_large",
                        f"line of {size} bytes > clean.max_bytes{cut}",
                        text=text,
                    )
                    continue
                if raw.isspace():  # a blank line (`raw.strip()` would copy every line to find out)
                    blank += 1
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
                except (ValueError, RecursionError) as exc:  # ValueError: a JSONDecodeError, or a 4300-digit number
                    obj, exc = loads_after_mark(line, exc)
                    if exc is not None:
                        if line.startswith("\ufeff") and (len(line) == 1 or line[1:].isspace()):
                            blank += 1  # the mark alone: `cat a.jsonl empty.jsonl b.jsonl` with Notepad's empty file
                            continue
                        yield Reject(
                            unit.source,
                            unit.path,
                            n,
                            "read",
                            "malformed_json",
                            json_error_detail(exc, line),
                            text=line,
                        )
                        continue
                if not isinstance(obj, dict):
                    yield Reject(unit.source, unit.path, n, "read", "not_an_object", _not_an_object(obj), text=line)
                    continue
                if self._duplicate_text_key(line):
                    detail = f"the object holds the key {self._text_token} twice: which text is meant is unclear"
                    yield Reject(unit.source, unit.path, n, "read", "malformed_json", detail, text=line)
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
                (n == 0 and misnamed(unit.path)) or f"compressed stream is damaged or cut short after line {n}: {exc}",
            )
        except Exception as exc:  # zstandard.ZstdError has no stable import path across versions
            if type(exc).__name__ != "ZstdError":
                raise
            damaged = True
            detail = (n == 0 and misnamed(unit.path)) or f"zstd stream is damaged after line {n}: {exc}"
            yield Reject(unit.source, unit.path, n + 1, "read", "truncated_file", detail)
        if n == blank and not damaged:  # a stream cut short before its first line is reported once, as truncated
            yield Reject(unit.source, unit.path, None, "read", "empty_file", "file holds no records")

    def _parquet(self, unit: InputUnit) -> Iterator[RawRecord | Reject]:
        f = self.fields
        try:
            pf = pq.ParquetFile(unit.path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid/OSError for non-Parquet bytes
            if isinstance(exc, OSError) and exc.errno is not None:  # gone, or permission denied: the OS's reason
                raise
            yield Reject(unit.source, unit.path, None, "read", "unreadable", _parquet_failure(unit.path, exc))
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
        if (copies := schema.names.count(_parquet_column(f.text, schema))) > 1:
            # a record keeps one value per name: the others' texts were dropped without a word (as a JSON line
            # naming its text twice would be, which is a `malformed_json` reject)
            yield Reject(
                unit.source,
                unit.path,
                None,
                "read",
                "unreadable",
                f"the text column {f.text.split('.')[0]!r} appears {copies} times (columns: {schema.names}), so "
                f"which one holds the text is unclear; write the file with unique column names",
            )
            return
        found = (_parquet_column(c, schema) for c in (f.id, f.text, f.url, f.created_at, f.source))
        cols = list(dict.fromkeys(c for c in found if c is not None))
        row = 0
        for rg in range(pf.num_row_groups):
            first, n_rows = row, pf.metadata.row_group(rg).num_rows
            # Batches, not the whole row group: Spark and HF write row groups of hundreds of MB of text, and a
            # row group made into Python objects at once costs several times that in memory.
            batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[rg], columns=cols)
            while True:
                try:
                    batch = next(batches, None)
                except (OSError, ValueError) as exc:  # a damaged page: the rest of this row group is lost
                    yield Reject(
                        unit.source,
                        unit.path,
                        row + 1,
                        "read",
                        "unreadable",
                        f"row group {rg} (rows {row + 1}-{first + n_rows}) cannot be read: {exc}",
                    )
                    row = first + n_rows
                    break
                if batch is None:
                    break
                try:
                    objs = batch.to_pylist()
                except (OverflowError, ValueError):  # a timestamp or date past what Python's datetime holds
                    objs = _pylist_leniently(batch)
                for obj in objs:
                    row += 1
                    yield self._record(unit.source, unit.path, row, obj)
        if row == 0:
            yield Reject(unit.source, unit.path, None, "read", "empty_file", "file holds no rows")

    def _text_file(self, source: str, path: str, folder: str | None = None) -> Iterator[RawRecord | Reject]:
        """One text file as one record; its id is its path inside `folder` (the input folder it was found in), so
        `2023/index.md` and `2024/index.md` are two documents, not one id seen twice."""
        p = Path(path)
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):  # a subfolder that could not be listed when the inputs were planned
            os.listdir(path)  # its OSError (permission denied) is the reject's reason
            yield Reject(source, path, None, "read", "unreadable", "folder could not be listed when inputs were found")
            return
        size = st.st_size
        if size > self.clean.max_bytes:
            yield Reject(source, path, None, "read", "too_large", f"{size} bytes > clean.max_bytes")
            return
        data = p.read_bytes()
        if not data.strip():
            yield Reject(source, path, None, "read", "empty_file", "file is empty")
            return
        wide = wide_encoding(data[:4])  # a byte-order mark: Notepad's "Unicode" is UTF-16
        # without a mark: as UTF-8, its ASCII would be NUL-separated; CJK text has no ASCII to give it away
        guessed = None if wide else unmarked_wide_encoding(data) or unmarked_utf16_cjk(data)
        encoding = wide or guessed or "utf-8"
        text, err = decode(data, self.clean.invalid_utf8, encoding)
        if guessed and (text is None or "\x00" in text):  # the NUL pattern of UTF-16 (or 32), but not its text
            why = err or "it holds NUL characters"
            err = f"looks like {guessed.upper()} without a byte order mark, but is not that either ({why})"
            text = None
        if text is None:
            yield Reject(source, path, None, "read", "invalid_utf8", err, text=data.decode(encoding, errors="replace"))
            return
        body = text[1:] if text.startswith("\ufeff") else text  # UTF-8's mark; a UTF-16/32 one is gone when decoded
        if not body or body.isspace():  # the mark alone (Notepad's empty file) and maybe blank lines: as empty as b""
            yield Reject(source, path, None, "read", "empty_file", "file is empty")
            return
        rid = Path(os.path.relpath(path, folder)).as_posix() if folder is not None else p.name
        yield RawRecord(source, path, None, rid, text)
