"""Stream JSONL records through the filter (the `lmforge pii` commands): one line in, one line out, bounded memory.

A bad line (not JSON, not an object, `text` missing or not a string, not UTF-8) becomes an InputError naming the
file and line; it is reported through `on_error` and the run goes on, unless `strict`.

The input may be any readable non-folder path, so `/dev/stdin` and a shell's `<(zcat …)` (a pipe) work; an output
may be an open text stream (stdout) instead of a path, which is then written to and left open.
"""

from __future__ import annotations

import codecs
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from lmforge.pipeline.curate.lines import json_error_detail, loads_after_mark, open_lines
from lmforge.pipeline.errors import InputError
from lmforge.pipeline.privacy.config import PrivacyConfig
from lmforge.pipeline.privacy.redactor import Redactor, apply
from lmforge.pipeline.privacy.scanner import scan


@dataclass(slots=True)
class JsonlReport:
    """What a run over one file did: counts only (per type, and per source × type), never text."""

    records: int = 0
    errors: int = 0
    dropped: int = 0
    unkept: int = 0
    """Dropped or bad records written nowhere (an output stream and no rejects file): counted, for a warning."""
    counts: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, source: str, counts: dict[str, int]) -> None:
        if counts:
            self.counts.update(counts)
            self.by_source.setdefault(source, Counter()).update(counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "errors": self.errors,
            "dropped": self.dropped,
            "counts": dict(sorted(self.counts.items())),
            "by_source": {s: dict(sorted(c.items())) for s, c in sorted(self.by_source.items())},
        }


ErrorHook = Callable[[InputError], None]


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """(line number, record or the InputError for that line); blank lines are skipped. The file is read as
    curation reads it (`curate.lines.open_lines`: gzip, zstd, UTF-8 with or without a mark, UTF-16/32).

    A missing input is refused on the call, not at the first record, so no output file has been opened yet."""
    if path.is_dir():
        raise InputError(path, "is a folder; give a JSONL file")
    if not path.exists():  # not `is_file()`: stdin and `<(zcat a.jsonl.gz)` are pipes, and are read as files are
        raise InputError(path, "input file not found")
    return _records(path)


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    lineno = 0
    try:
        for lineno, line in enumerate(open_lines(str(path)), 1):
            if lineno == 1 and line.startswith(codecs.BOM_UTF8):  # an encoding mark, as in curation's reader
                line = line[len(codecs.BOM_UTF8) :]
            if not line.strip():
                continue
            yield lineno, _parse(path, lineno, line)
    except (OSError, EOFError, ValueError, zlib.error) as exc:  # truncated .gz/.zst: say where it stopped
        raise InputError(path, f"cannot read past line {lineno} ({exc}); the file looks truncated") from exc
    except Exception as exc:  # zstandard.ZstdError has no stable import path across versions
        if type(exc).__name__ != "ZstdError":
            raise
        raise InputError(path, f"cannot read past line {lineno} ({exc}); the file looks truncated") from exc


def _parse(path: Path, lineno: int, line: bytes) -> dict[str, Any] | InputError:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InputError(path, f"not UTF-8 at byte {exc.start}; re-encode the file as UTF-8", lineno)
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: a JSONDecodeError, or a 4300-digit number
        record, exc = loads_after_mark(text, exc)  # a mark inside the file (`cat a.jsonl b.jsonl`), as curation
        if exc is not None:
            return InputError(path, f"not valid JSON ({json_error_detail(exc)})", lineno)
    if not isinstance(record, dict):
        return InputError(path, f"expected a JSON object, got {type(record).__name__}", lineno)
    if "text" not in record:
        return InputError(path, "record has no 'text' field", lineno)
    if not isinstance(record["text"], str):
        return InputError(path, f"'text' must be a string, got {type(record['text']).__name__}", lineno)
    return record


def dumps(obj: Any) -> str:
    """One JSON line; lone surrogates from the input (valid JSON escapes) survive as escapes instead of crashing."""
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj, ensure_ascii=True)
    return line + "\n"


def _open_out(stack: ExitStack, out: Path | TextIO) -> TextIO:
    """A path is opened (and closed with the stack); a stream given instead (stdout) is written to and left open."""
    if isinstance(out, Path):
        return stack.enter_context(out.open("w", encoding="utf-8"))
    return out


def scan_jsonl(
    src: Path,
    out: Path | TextIO,
    config: PrivacyConfig | None = None,
    *,
    strict: bool = False,
    on_error: ErrorHook | None = None,
) -> JsonlReport:
    """Write `{"id", "spans": [{"start", "end", "type"}]}` per record (or `{"id", "line", "error"}` for a bad one)."""
    config = config or PrivacyConfig()
    report = JsonlReport()
    records = read_records(src)
    with ExitStack() as stack:
        sink = _open_out(stack, out)
        for lineno, item in records:
            if isinstance(item, InputError):
                _fail(item, report, strict, on_error)
                sink.write(dumps({"id": None, "line": lineno, "error": item.reason}))
                continue
            spans = scan(item["text"], config, uncleaned=True)
            report.records += 1
            report.add(_source(item, src), dict(Counter(s.type for s in spans)))
            sink.write(
                dumps(
                    {"id": item.get("id"), "spans": [{"start": s.start, "end": s.end, "type": s.type} for s in spans]}
                )
            )
    return report


def redact_jsonl(
    src: Path,
    out: Path | TextIO,
    config: PrivacyConfig | None = None,
    *,
    rejects: Path | None = None,
    strict: bool = False,
    on_error: ErrorHook | None = None,
) -> JsonlReport:
    """Write each record with `text` redacted; records an action drops go (redacted) to `rejects` with a `reason`.

    `rejects` defaults to OUT.rejects.jsonl next to a path `out`; a stream `out` has no name to derive one from, so
    without `rejects` the dropped and bad records are only counted (`report.unkept`), for the caller to say so."""
    redactor = Redactor(config)
    report = JsonlReport()
    if rejects is None and isinstance(out, Path):
        rejects = out.with_name(out.name.removesuffix(".jsonl") + ".rejects.jsonl")
    records = read_records(src)
    with ExitStack() as stack:
        sink = _open_out(stack, out)
        reject_sink: IO[str] | None = None
        for lineno, item in records:
            if isinstance(item, InputError):
                _fail(item, report, strict, on_error)
                reason = {"line": lineno, "reason": "bad_record", "error": item.reason}
            else:
                text = item["text"]
                result = redactor.redact(text, uncleaned=True) if redactor.config.enabled else apply(text, [], {})
                report.records += 1
                report.add(_source(item, src), result.counts)
                record = {**item, "text": result.text}
                if result.drop is None:
                    sink.write(dumps(record))
                    continue
                report.dropped += 1
                reason = {**record, "line": lineno, "reason": result.drop}
            if rejects is None:
                report.unkept += 1
                continue
            if reject_sink is None:
                reject_sink = stack.enter_context(rejects.open("w", encoding="utf-8"))
            reject_sink.write(dumps(reason))
    return report


def _fail(error: InputError, report: JsonlReport, strict: bool, on_error: ErrorHook | None) -> None:
    if strict:
        raise error
    report.errors += 1
    if on_error is not None:
        on_error(error)


def _source(record: dict[str, Any], path: Path) -> str:
    source = record.get("source")
    return source if isinstance(source, str) and source else path.name
