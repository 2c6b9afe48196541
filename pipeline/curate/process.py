"""Curate one input unit: read → clean → redact PII → language ID → quality filters → a Parquet part + rejects.

This is the unit of work (one Prefect task); it resumes by skipping units whose result file exists. Nothing here
logs or returns document text: the result is counts and paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.config import LmforgeConfig
from lmforge.pipeline.configuring import from_dict, merge, to_dict
from lmforge.pipeline.curate import workdir
from lmforge.pipeline.curate.clean import clean_text, fix_surrogates
from lmforge.pipeline.curate.config import FieldsConfig
from lmforge.pipeline.curate.dates import parse_created_at
from lmforge.pipeline.curate.document import Document, Reject
from lmforge.pipeline.curate.filters import build_filters
from lmforge.pipeline.curate.filters.base import Filter
from lmforge.pipeline.curate.filters.config import FiltersConfig
from lmforge.pipeline.curate.gc_pause import gc_paused
from lmforge.pipeline.curate.inputs import InputUnit, file_key, location, redacted_name
from lmforge.pipeline.curate.langid import LanguageId
from lmforge.pipeline.curate.readers import RawRecord, RecordReader
from lmforge.pipeline.privacy import Redactor
from lmforge.schemas.snapshot import REJECTS_SCHEMA, SNAPSHOT_SCHEMA

log = logging.getLogger(__name__)

#: Reasons that mean the input itself is malformed (as opposed to a quality decision); `--strict` fails on these.
INPUT_ERROR_REASONS = frozenset(
    {
        "invalid_utf8",
        "malformed_json",
        "not_an_object",
        "missing_text",
        "text_not_string",
        "truncated_file",
        "empty_file",
        "unknown_format",
        "no_matching_files",
        "unreadable",
        "missing_text_column",
        "too_large",
        "empty_text",
        "duplicate_doc_id",
    }
)
#: Reasons that concern a whole file rather than one document; they are rejects but not documents in the accounting.
FILE_LEVEL_REASONS = frozenset(
    {"empty_file", "no_matching_files", "unknown_format", "unreadable", "missing_text_column", "truncated_file"}
)
FLUSH_BYTES = 64 << 20
STAGE_DOCS, STAGE_CHARS = 256, 8 << 20
"""Documents taken through each step together (at most this many, or this many characters), so that a step's tables
(the language model's 40 MB automaton, the character database) stay in the CPU cache across the batch instead of
being evicted by the other steps between documents."""
Verdict = tuple[str, str, str | None]
"""(step, reason, redacted text or None) of a rejected document."""
_REJECT_COLUMNS = tuple(REJECTS_SCHEMA.names)
# `keep` writes its row tuple in this order.
assert tuple(SNAPSHOT_SCHEMA.names) == (
    "doc_id",
    "text",
    "source",
    "url",
    "created_at",
    "lang",
    "lang_score",
    "n_chars",
    "content_hash",
), "update UnitCurator.curate_unit's keep() to the snapshot schema's columns"
_SOURCE_CACHE = 4096
"""Source names remembered by `UnitCurator.safe_source` (a corpus has a few; one per record is bounded here)."""
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:/#-]+")


@dataclass(slots=True)
class UnitResult:
    """Counts and paths for one unit; JSON-able (Prefect persists it), never holds text."""

    unit: dict[str, Any]
    digest: str
    part: str | None
    rejects: str | None
    docs_in: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    langs: dict[str, int] = field(default_factory=dict)
    pii: dict[str, dict[str, int]] = field(default_factory=dict)
    file_problems: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    chars_kept: int = 0
    first_input_error: str | None = None
    first_input_error_at: str | None = None  # its file, and line or row where known

    def missing_files(self) -> dict[str, str]:
        """The part and rejects files this result names that are not on disk (kind → path)."""
        return {
            k: f for k, f in (("part", self.part), ("rejects", self.rejects)) if f is not None and not Path(f).is_file()
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unit_result_path(out_dir: Path, unit_digest: str) -> Path:
    """Where a curated unit's UnitResult lies while its snapshot is being built; a unit with one is done."""
    return Path(out_dir) / "results" / f"{unit_digest}.json"


def doc_id_for(source: str, record_id: str | None, path: str, line: int | None, where: str | None = None) -> str:
    """Stable id. A record's own id is kept readable (`source/id`) when it is short and plain; otherwise, and for
    records without an id, it is a hash of source + id (or source + where its file is + line, `where` as
    `inputs.file_key` says, by default of the folder holding `path`)."""
    if record_id and len(record_id) <= 128 and _PLAIN_ID.fullmatch(record_id):
        return f"{source}/{record_id}"
    if record_id:
        key = f"{source}\x00{record_id}"
    else:
        key = f"{source}\x00{where if where is not None else file_key(path)}\x00{line}"
    return f"{source}/h{hashlib.blake2b(key.encode('utf-8', 'surrogatepass'), digest_size=8).hexdigest()}"


def content_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class _TableWriter:
    """Buffers rows and writes zstd Parquet row groups; creates the file only if a row arrives.

    A row is a tuple in schema order: appending one tuple per document and transposing the buffer with `zip` at
    each flush costs a fraction of appending to one list per column.
    """

    def __init__(self, path: Path, schema: pa.Schema, rows_per_group: int) -> None:
        self.path, self.schema, self.rows_per_group = path, schema, rows_per_group
        self.rows: list[tuple] = []
        self.nbytes = 0
        self._writer: pq.ParquetWriter | None = None

    def add(self, row: tuple, nbytes: int) -> None:
        self.rows.append(row)
        self.nbytes += nbytes
        if len(self.rows) >= self.rows_per_group or self.nbytes >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(pa.table(list(zip(*self.rows, strict=True)), schema=self.schema))
        self.rows = []
        self.nbytes = 0

    def close(self) -> str | None:
        self.flush()
        if self._writer is None:
            return None
        self._writer.close()
        return str(self.path)


class UnitCurator:
    """Holds the per-run machinery (config, reader, redactor, language ID, filters per source)."""

    def __init__(self, config: LmforgeConfig) -> None:
        self.config = config
        cur = config.curate
        self.redactor = Redactor(config.privacy) if config.privacy.enabled else None
        self.langid = LanguageId(cur.langid)
        self._filters: dict[str, list[Filter]] = {}
        self._readers: dict[str, RecordReader] = {}
        self._sources: dict[str, str] = {}

    def filters_for(self, source: str) -> list[Filter]:
        if source not in self._filters:
            cur = self.config.curate
            override = cur.sources.get(source)
            fcfg = cur.filters
            if override and override.filters:
                fcfg = from_dict(FiltersConfig, merge(to_dict(fcfg), override.filters), f"curate.sources.{source}")
            self._filters[source] = build_filters(fcfg) if fcfg.enabled else []
        return self._filters[source]

    def safe_source(self, name: str) -> str:
        """`name`, or its redacted form when it holds personal data (a record's `source` field is data, and a file
        may be named after a person): `<EMAIL>~1f0c6a2e`, whose digest of the name keeps two such sources apart."""
        safe = self._sources.get(name)
        if safe is None:
            # `"source": "web\udcff"` is valid JSON that no Parquet column can store: surrogates fixed either way
            safe = (self.redactor is not None and redacted_name(name, self.redactor)) or fix_surrogates(name)
            if len(self._sources) >= _SOURCE_CACHE:
                self._sources.clear()
            self._sources[name] = safe
        return safe

    def reader_for(self, source: str) -> RecordReader:
        if source not in self._readers:
            cur = self.config.curate
            override = cur.sources.get(source)
            fields: FieldsConfig = override.fields if override and override.fields else cur.fields
            self._readers[source] = RecordReader(fields, cur.clean)
        return self._readers[source]

    def redact(
        self, text: str | None, pii: dict[str, Counter], source: str, *, cleaned: bool = False
    ) -> tuple[str | None, str | None]:
        """Redacted text (counts added to `pii[source]`) and a drop reason if an action says drop. `cleaned`: the
        text went through `clean_text`, which already replaced lone surrogates, so `fix_surrogates` is skipped."""
        if text is None:
            return None, None
        if self.redactor is None:  # privacy off: still no lone surrogate (a valid JSON escape) that Parquet refuses
            return (text if cleaned else fix_surrogates(text)), None
        result = self.redactor.redact(text if cleaned else fix_surrogates(text))
        pii[source].update(result.counts)
        return result.text, result.drop

    def curate_unit(self, unit: InputUnit, unit_digest: str, out_dir: Path) -> UnitResult:
        """Process one unit into `out_dir/parts/<digest>.parquet` + `out_dir/rejects/<digest>.parquet`."""
        result_path = unit_result_path(out_dir, unit_digest)
        done = finished_result(result_path, unit_digest)
        if done is not None:
            return done
        for sub in ("parts", "rejects", "results"):
            (out_dir / sub).mkdir(parents=True, exist_ok=True)
        cur = self.config.curate
        # One name per call, not per process: identical files of one source are one unit digest, which the flow's
        # thread pool curates at once; with the pid alone both wrote one temporary file, and the second to publish
        # found it moved away. Each publishes its own (equal) files by an atomic rename.
        tmp_tag = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        kept_w = _TableWriter(
            out_dir / "parts" / f"{unit_digest}.parquet{tmp_tag}", SNAPSHOT_SCHEMA, cur.row_group_rows
        )
        rej_w = _TableWriter(out_dir / "rejects" / f"{unit_digest}.parquet{tmp_tag}", REJECTS_SCHEMA, 5000)
        docs_in: Counter = Counter()
        kept: Counter = Counter()
        rejected: dict[str, Counter] = defaultdict(Counter)
        langs: Counter = Counter()
        pii: dict[str, Counter] = defaultdict(Counter)
        seen_ids: set[str] = set()
        file_problems: Counter = Counter()
        first_error: str | None = None
        first_error_at: str | None = None
        bytes_in = chars_kept = 0

        # Where a record without an id comes from: the unit's file (planned with copies of one file named alike, so
        # that whichever copy is curated writes the same part), or a text folder's file inside the folder.
        unit_key = None if unit.kind == "textdir" else location(unit)

        def where(path: str) -> str:
            return unit_key if unit_key is not None else file_key(path, unit.path)

        def reject(r: Reject) -> None:
            nonlocal first_error, first_error_at
            text = r.text if r.redacted or r.text is None else self.redact(r.text, pii, r.source)[0]
            if r.reason not in FILE_LEVEL_REASONS:
                rejected[r.source][r.reason] += 1
            if first_error is None and r.reason in INPUT_ERROR_REASONS:
                first_error = r.reason + (f" ({r.detail})" if r.detail else "")
                first_error_at = f"{r.path}:{r.line}" if r.line is not None else r.path
            # The row names the file by `where`, as ids do, not as typed: one snapshot id is one snapshot (`location`)
            path = where(r.path)
            row = (text if name == "text" else path if name == "path" else getattr(r, name) for name in _REJECT_COLUMNS)
            rej_w.add(tuple(row), len(text or ""))

        def keep(doc: Document) -> None:
            nonlocal chars_kept
            kept[doc.source] += 1
            langs[doc.lang] += 1
            n_chars = len(doc.text)
            chars_kept += n_chars
            kept_w.add(
                (
                    doc.doc_id,
                    doc.text,
                    doc.source,
                    doc.url,
                    doc.created_at,
                    doc.lang,
                    doc.lang_score,
                    n_chars,
                    content_hash(doc.text),
                ),
                n_chars,
            )

        with gc_paused():  # no document makes a reference cycle; collections would only walk the heap
            items = self.reader_for(unit.source).read(unit)
            detect = self.langid.detect
            for batch in _batches(items):
                # Each step runs over the whole batch before the next one starts; outcomes stay in input order.
                outcomes: list[Document | Reject] = []
                for item in batch:
                    item.source = self.safe_source(item.source)
                    if isinstance(item, Reject):
                        if item.reason in FILE_LEVEL_REASONS:
                            file_problems[item.reason] += 1  # a problem with a file, not a document
                        else:
                            docs_in[item.source] += 1
                            item.doc_id = item.doc_id or self._doc_id(
                                item.source, item.record_id, item.path, item.line, where
                            )
                        outcomes.append(item)
                        continue
                    rec: RawRecord = item
                    docs_in[rec.source] += 1
                    bytes_in += len(rec.text)
                    doc = self._document(rec, where)
                    if doc.doc_id in seen_ids:
                        outcomes.append(
                            Reject(
                                rec.source,
                                rec.path,
                                rec.line,
                                "read",
                                "duplicate_doc_id",
                                "the same id appears twice in this input",
                                text=rec.text,
                                doc_id=doc.doc_id,
                            )
                        )
                        continue
                    seen_ids.add(doc.doc_id)
                    outcomes.append(doc)
                for step in (self._clean, lambda doc: self._redact_document(doc, pii)):
                    for i, doc in enumerate(outcomes):
                        if isinstance(doc, Document):
                            outcomes[i] = _rejected(doc, step(doc))
                for doc in outcomes:
                    if isinstance(doc, Document):
                        doc.lang, doc.lang_score = detect(doc.text)
                for outcome in outcomes:
                    if isinstance(outcome, Document):
                        outcome = _rejected(outcome, self._judge(outcome))
                    if isinstance(outcome, Reject):
                        reject(outcome)
                    else:
                        keep(outcome)
            part = _publish(kept_w.close(), tmp_tag)
            rej = _publish(rej_w.close(), tmp_tag)
        result = UnitResult(
            unit=unit.to_dict(),
            digest=unit_digest,
            part=part,
            rejects=rej,
            docs_in=dict(docs_in),
            kept=dict(kept),
            rejected={s: dict(c) for s, c in rejected.items()},
            file_problems=dict(file_problems),
            langs=dict(langs),
            pii={s: dict(c) for s, c in pii.items()},
            bytes_in=bytes_in,
            chars_kept=chars_kept,
            first_input_error=first_error,
            first_input_error_at=first_error_at,
        )
        tmp = result_path.with_name(result_path.name + tmp_tag)
        tmp.write_text(json.dumps(result.to_dict(), sort_keys=True))
        os.replace(tmp, result_path)
        return result

    def _doc_id(
        self, source: str, record_id: str | None, path: str, line: int | None, where: Callable[[str], str]
    ) -> str:
        """`doc_id_for` a record (kept or rejected): `where(path)` names a record without an id."""
        if not record_id:
            return doc_id_for(source, None, path, line, where(path))
        if self.redactor is not None and self.redactor.redact(record_id).counts:
            record_id = "pii:" + record_id  # not plain: doc_id_for hashes it, so no PII reaches the doc_id
        return doc_id_for(source, record_id, path, line)

    def _document(self, rec: RawRecord, where: Callable[[str], str]) -> Document:
        return Document(
            doc_id=self._doc_id(rec.source, rec.record_id, rec.path, rec.line, where),
            text=rec.text,
            source=rec.source,
            path=rec.path,
            line=rec.line,
            url=fix_surrogates(rec.url) if rec.url else None,
            created_at=parse_created_at(rec.created_at),
        )

    def _clean(self, doc: Document) -> Verdict | None:
        """Clean `doc`'s text in place; a verdict if nothing is left."""
        if not doc.text or doc.text.isspace():  # `not text.strip()` without copying the text
            return "read", "empty_text", None
        doc.text = clean_text(doc.text, self.config.curate.clean)
        if not doc.text:
            return "clean", "empty_after_cleaning", None
        return None

    def _redact_document(self, doc: Document, pii: dict[str, Counter]) -> Verdict | None:
        """Redact `doc`'s cleaned text (counted in `pii`) and URL in place; a verdict if an action says drop."""
        doc.text, drop = self.redact(doc.text, pii, doc.source, cleaned=True)
        if drop:
            return "privacy", drop, doc.text
        if doc.url and self.redactor is not None:  # URL hits are not counted: the text's counts are the report's
            doc.url = self.redactor.redact(doc.url).text
        return None

    def _judge(self, doc: Document) -> Verdict | None:
        """Language rules and quality filters on a prepared document with its language set; a verdict if rejected."""
        lid = self.config.curate.langid
        if lid.languages and doc.lang not in lid.languages:
            return "langid", "lang_not_allowed", doc.text
        if doc.lang_score < lid.min_score:
            return "langid", "lang_low_score", doc.text
        for flt in self.filters_for(doc.source):
            keep, reason = flt.filter(doc)
            if not keep:
                return flt.name, reason or flt.name, doc.text
        if not doc.text:
            return "filters", "empty_after_filters", None
        return None


def finished_result(path: Path, unit_digest: str) -> UnitResult | None:
    """The result a finished run of the unit left, or None when the unit must be curated (again): no result, one
    that does not parse (a disk that filled up, a hand edit), or one whose part or rejects file is gone since (a
    cleaned-up work folder) — the snapshot step would fail on it, and re-curating the unit is cheap and exact.

    Every unit of a run asks this first (the flow's cache key too), so it also marks this process as a user of the
    work folder until the run finalizes (`workdir.hold`): another run of the snapshot that publishes it meanwhile
    leaves the folder, with the parts this run still reads, in place."""
    workdir.hold(Path(path).parent.parent)
    if not path.is_file():
        return None
    try:
        result = UnitResult(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        log.warning("unit %s: its result file %s is unreadable (%s); curating the unit again", unit_digest, path, exc)
        return None
    missing = result.missing_files()
    if result.digest != unit_digest or missing:
        log.warning(
            "unit %s: files of its earlier run are missing (%s); curating the unit again",
            unit_digest,
            list(missing.values()),
        )
        return None
    return result


def _batches(items: Iterator[RawRecord | Reject]) -> Iterator[list[RawRecord | Reject]]:
    batch: list[RawRecord | Reject] = []
    chars = 0
    for item in items:
        batch.append(item)
        chars += len(item.text or "")
        if len(batch) >= STAGE_DOCS or chars >= STAGE_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def _rejected(doc: Document, verdict: Verdict | None) -> Document | Reject:
    """`doc` itself, or the Reject its verdict makes (a verdict's text is None or has been redacted)."""
    if verdict is None:
        return doc
    step, reason, text = verdict
    return Reject(doc.source, doc.path, doc.line, step, reason, None, text, doc.doc_id, redacted=True)


def _publish(tmp_path: str | None, tag: str) -> str | None:
    if tmp_path is None:
        return None
    final = tmp_path[: -len(tag)]
    os.replace(tmp_path, final)
    return final
