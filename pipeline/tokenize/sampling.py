"""Reading a snapshot for the tokenizer: stable document hashes, the training sample and the held-out set.

Documents are chosen by a hash of their `doc_id`, never at random, so the same snapshot and parameters always
give the same sample, whatever the file layout or the machine. Only ids and character counts are held in memory;
text is streamed one row group at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.errors import InputError, IntegrityError, LmforgeError
from lmforge.schemas.manifest import Manifest
from lmforge.schemas.snapshot import SNAPSHOT_FORMAT

_SCALE = float(1 << 64)


def _person(salt: str) -> bytes:
    """blake2b's 16-byte `person` for `salt`. A longer salt is hashed down, not cut: cut, "heldout" + any two
    10-digit seeds that share their first 9 digits would choose the same documents."""
    raw = salt.encode("utf-8")
    return raw.ljust(16, b"\0") if len(raw) <= 16 else hashlib.blake2b(raw, digest_size=16).digest()


def stable_unit(doc_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by `doc_id` and `salt` (blake2b, so it is the same in every process)."""
    h = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, person=_person(salt))
    return int.from_bytes(h.digest(), "little") / _SCALE


def stable_units(doc_ids: list[str], salt: str) -> np.ndarray:
    """`stable_unit` of many ids at once (float64, equal value for value)."""
    person = _person(salt)
    blake = hashlib.blake2b
    raw = b"".join([blake(d.encode("utf-8"), digest_size=8, person=person).digest() for d in doc_ids])
    return np.frombuffer(raw, dtype="<u8").astype(np.float64) / _SCALE


def snapshot_files(snapshot_dir: Path) -> list[Path]:
    """The data files the snapshot's manifest lists, in a fixed order, each there with its listed size; an empty
    snapshot is an InputError.

    The manifest, not a listing of `data/`, says what the snapshot is: a folder copied in part (or a file cut short)
    must fail here, not give a tokenizer or shards of some of the documents under the whole snapshot's id. Each
    file's sha256 is checked too (once per process while its size and mtime stay the same): a byte changed in place
    mostly still decodes (Parquet pages carry no checksum by default), and shards of the changed text were built
    under the snapshot's id."""
    snapshot_dir = Path(snapshot_dir)
    manifest = Manifest.read(snapshot_dir)
    if manifest.format != SNAPSHOT_FORMAT:
        raise IntegrityError(f"{snapshot_dir}: manifest format {manifest.format!r} is not {SNAPSHOT_FORMAT!r}")
    files = []
    for entry in manifest.files:
        if not (entry.path.startswith("data/") and entry.path.endswith(".parquet")):
            continue
        path = snapshot_dir / entry.path
        if not path.is_file():
            raise IntegrityError(f"{path}: missing; the snapshot folder is incomplete: copy it again or re-run curate")
        if (size := path.stat().st_size) != entry.bytes:
            raise IntegrityError(
                f"{path}: {size} bytes, the snapshot manifest says {entry.bytes}; the file was cut short or changed: "
                "copy it again or re-run curate"
            )
        _check_sha256(path, entry.sha256)
        files.append(path)
    if not files:
        raise InputError(snapshot_dir, _why_empty(snapshot_dir))
    return sorted(files)


class ChangedPart(IntegrityError, InputError):
    """A snapshot data file whose bytes are not those its manifest lists: stored data that fails its digest
    (IntegrityError) and an input file of this stage, named as such (InputError, which a damaged file that could
    not be read was before its digest was checked)."""


#: Files whose digest matched their manifest, by (path, size, mtime): a stage reads the snapshot's file list several
#: times (sample, training, report, plan), and hashing is a read of the whole snapshot.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _check_sha256(path: Path, expected: str) -> None:
    if not expected:  # a manifest that lists no digest for the file: the size check is all there is
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) == expected:
        return
    if sha256_file(path) != expected:
        raise ChangedPart(
            path,
            "cannot read it as the snapshot manifest lists it (its sha256 differs: the file was changed or damaged "
            "after the snapshot was written); is the snapshot intact? Copy it again or re-run curate",
        )
    _VERIFIED[key] = expected


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    try:
        yield
    except (pa.ArrowInvalid, OSError) as exc:
        why = " ".join(str(exc).split())  # pyarrow's messages span lines; the CLI prints one
        raise InputError(
            path, f"cannot read it ({why}); is the snapshot intact? Copy it again or re-run curate"
        ) from exc


def open_part(path: Path) -> pq.ParquetFile:
    """A snapshot data file, opened; a damaged one is an InputError that names it."""
    with _reading(path):
        return pq.ParquetFile(path)


def _why_empty(snapshot_dir: Path) -> str:
    """A finished snapshot that kept nothing (curating again gives the same), or one whose data files are gone."""
    try:
        stats = Manifest.read(snapshot_dir).stats
    except LmforgeError:
        stats = {}
    if stats.get("kept") == 0 and not stats.get("docs_in"):
        problems = ", ".join(f"{r} {n}" for r, n in sorted(stats.get("file_problems", {}).items()))
        return (
            f"the snapshot read no documents from its inputs ({problems or 'they hold none'}): nothing to build from. "
            "Check the inputs and curate.fields (the text field's name); rejects/ names each file and its problem"
        )
    if stats.get("kept") == 0:
        reasons = sorted(stats.get("by_reason", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        top = ", ".join(f"{r} {n}" for r, n in reasons[:3]) or "no documents read"
        return (
            f"the snapshot kept none of its {stats.get('docs_in', 0)} documents ({top}): nothing to build from. "
            "Give more or longer input, or loosen curate.filters; rejects/ lists every document with its reason"
        )
    return "the snapshot manifest lists no data/*.parquet files; re-run `lmforge curate` for it"


def read_ids(files: Iterable[Path], columns: tuple[str, ...] = ("doc_id", "n_chars")) -> Iterator[tuple]:
    """Yield tuples of the small per-document columns (never text), file by file, in file order."""
    for path in files:
        with _reading(path):
            table = open_part(path).read(columns=list(columns))  # read_table would import pyarrow.dataset (~0.3 s)
        yield from zip(*(table.column(c).to_pylist() for c in columns), strict=True)


def iter_texts(files: Iterable[Path], keep: set[str] | frozenset[str] | None = None) -> Iterator[tuple[str, str, str]]:
    """Yield `(doc_id, text, lang)` one row group at a time, in file order; only ids in `keep` when given."""
    for path in files:
        reader = open_part(path)
        for rg in range(reader.num_row_groups):
            with _reading(path):
                table = reader.read_row_group(rg, columns=["doc_id", "text", "lang"])
            for doc_id, text, lang in zip(
                *(table.column(c).to_pylist() for c in ("doc_id", "text", "lang")), strict=True
            ):
                if keep is None or doc_id in keep:
                    yield doc_id, text, lang


def force_one(ids_in: list[str], ids_all: list[tuple[float, str]]) -> list[str]:
    """When a fraction-based subset came out empty but there are ≥ 2 documents, take the lowest-hash one."""
    if ids_in or len(ids_all) < 2:
        return ids_in
    return [min(ids_all)[1]]


@dataclass(frozen=True, slots=True)
class Sample:
    """Which documents train the tokenizer and which the report measures it on (ids only)."""

    train_ids: frozenset[str]
    heldout_ids: frozenset[str]
    n_docs: int
    train_chars: int
    heldout_chars: int


def choose_sample(
    snapshot_dir: Path, *, sample_chars: int, heldout_fraction: float, report_chars: int, seed: int
) -> Sample:
    """Held-out documents first (hash below `heldout_fraction`, at least one of ≥ 2, never all); then the training
    sample is the other documents in hash order up to `sample_chars`. Documents left over join the held-out pool for
    the report."""
    files = snapshot_files(snapshot_dir)
    rows = [
        (stable_unit(doc_id, f"heldout{seed}"), stable_unit(doc_id, f"sample{seed}"), doc_id, n)
        for doc_id, n in read_ids(files)
    ]
    if not rows:
        raise InputError(snapshot_dir, "snapshot has no documents; nothing to train a tokenizer on")
    heldout = {d for h, _, d, _ in rows if h < heldout_fraction}
    if heldout_fraction > 0:
        heldout = set(force_one(sorted(heldout), [(h, d) for h, _, d, _ in rows]))
    if len(heldout) == len(rows):
        # Never hold out every document (a one-document snapshot whose hash fell below the fraction): the sample
        # would be empty and the error would blame the snapshot's size. The highest-hash one trains.
        heldout.discard(max((h, d) for h, _, d, _ in rows)[1])
    train: list[str] = []
    leftover: list[tuple[float, str, int]] = []
    total = 0
    candidates = sorted((s, d, n) for _, s, d, n in rows if d not in heldout)
    for s, doc_id, n in candidates:
        if total < sample_chars:
            train.append(doc_id)
            total += n
        else:
            leftover.append((s, doc_id, n))
    pool = sorted([(s, d, n) for _, s, d, n in rows if d in heldout]) + leftover
    report: list[str] = []
    report_total = 0
    for _, doc_id, n in pool:
        if report_total >= report_chars:
            break
        report.append(doc_id)
        report_total += n
    return Sample(frozenset(train), frozenset(report), len(rows), total, report_total)


def sentences(texts: Iterable[str], max_chars: int) -> Iterator[str]:
    """Lines of each text as training sentences: blank lines skipped, long lines cut to `max_chars`."""
    for text in texts:
        for line in text.split("\n"):
            if not line.strip():
                continue
            for start in range(0, len(line), max_chars):
                yield line[start : start + max_chars]
