"""The persisted dedup index: signatures of every document kept by earlier batches, so a new batch is
deduplicated against them without recomputing anything.

Two backends share one contract (`DedupIndex`): `LocalIndex`, a folder of immutable Parquet segments
(`<workspace>/dedup-index/`), and `RedisIndex` (pipeline/dedup/redis_index.py) for several workers on several
machines. Both store `signature_params(config)` as metadata and refuse to open with other parameters, so
signatures made differently are never mixed.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.signatures import RECIPE, band_column, check_signatures, signature_params
from lmforge.pipeline.digest import digest, sha256_file
from lmforge.pipeline.errors import ConfigError, IntegrityError

log = logging.getLogger(__name__)

INDEX_FORMAT = "lmforge.dedup-index"
INDEX_VERSION = 1
#: Schema metadata of a local index segment: when it was added (ns since the epoch). A doc_id in several segments (its
#: document re-curated with other text) is the entry of the latest; segments from before this key count as oldest.
ADDED_KEY = b"lmforge.added_ns"


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One indexed (already kept) document: what the keeper rule and verification need, no text."""

    doc_id: str
    digest: bytes
    created_at: int | None
    """Microseconds since the epoch (UTC), or None."""
    n_chars: int
    sig: np.ndarray


@dataclass(frozen=True, slots=True)
class Matches:
    """Index entries that share an exact digest or an LSH band with query rows."""

    pairs: list[tuple[int, str]]
    """(query row, indexed doc_id), sorted."""
    entries: dict[str, IndexEntry]


def index_meta(config: DedupConfig) -> dict:
    """What an index must agree on with the run that uses it (threshold included: it sets tuned bands)."""
    return {
        "format": INDEX_FORMAT,
        "format_version": INDEX_VERSION,
        "threshold": config.threshold,
        "margin": config.margin,
        "signatures": signature_params(config),
    }


#: Keys of `index_meta` that nothing stored depends on once bands and rows are given explicitly: they only steer the
#: verification of candidates, which reads the stored signatures as they are.
_TUNING = ("threshold", "margin")


def _compared(meta: dict, config: DedupConfig) -> dict:
    """The part of an index's metadata this run must agree with: all of it when the bands are tuned (the threshold
    and margin chose them), and without `_TUNING` when bands and rows are explicit (`signatures` holds them, and the
    stored band hashes depend on nothing else)."""
    return {k: v for k, v in meta.items() if k not in _TUNING} if config.bands else meta


def check_meta(found: dict, config: DedupConfig, where: str) -> None:
    expected = _compared(index_meta(config), config)
    found = _compared(found, config) if isinstance(found, dict) else {}
    if found != expected:
        sub = found.get("signatures") if isinstance(found.get("signatures"), dict) else {}
        diff = [(k, found.get(k), expected.get(k)) for k in sorted(set(expected) | set(found)) if k != "signatures"]
        want = expected["signatures"]
        diff += [(f"signatures.{k}", sub.get(k), want.get(k)) for k in sorted(set(want) | set(sub))]
        shown = "; ".join(f"{k}: index {_value(a)}, this run {_value(b)}" for k, a, b in diff if a != b)
        recipes = {f"signatures.{k}" for k in RECIPE} | {"format_version", "signatures.format_version"}
        if any(k in recipes for k, a, b in diff if a != b):  # no setting brings an older recipe back
            advice = (
                "it was made by another version of lmforge's hashing, which no setting of this one reproduces: use a "
                "new index location (dedup.index or another workspace); the documents of the old index are then no "
                "longer found as duplicates of later batches"
            )
        else:
            advice = "run with the index's values, or use a new index location (dedup.index or another workspace)"
        raise ConfigError(
            f"dedup index {where} was built with other parameters or format ({shown}): {advice}; signatures are "
            f"never mixed"
        )


def _value(v: object) -> str:
    return "(none)" if v is None else f"{v:g}" if isinstance(v, float) else json.dumps(v)


def match_values(query: np.ndarray, stored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (query row, stored row) with equal values, many-to-many, without a Python loop."""
    order = np.argsort(query, kind="stable")
    qs = query[order]
    left = np.searchsorted(qs, stored, "left")
    right = np.searchsorted(qs, stored, "right")
    counts = right - left
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    srows = np.repeat(np.arange(len(stored)), counts)
    starts = np.repeat(left, counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[starts + within], srows


def digest_keys(digests: Sequence[bytes]) -> np.ndarray:
    """First 8 bytes of each 16-byte digest as uint64 (matches are confirmed on the full digest)."""
    return np.frombuffer(b"".join(d[:8] for d in digests), dtype="<u8") if digests else np.empty(0, np.uint64)


def iter_kept(signatures: Sequence[Path], kept: set[str] | None, config: DedupConfig) -> Iterator[pa.Table]:
    """The signature rows of kept documents (all rows when `kept` is None), one signatures file at a time: adding a
    batch holds one file's rows, whatever the size of the batch."""
    wanted = pa.array(sorted(kept), pa.string()) if kept is not None else None
    for path in signatures:
        table = check_signatures(Path(path), config).read()
        if wanted is not None:
            table = table.filter(pc.is_in(table.column("doc_id"), value_set=wanted))
        yield table.replace_schema_metadata(None)


def entries_from(table: pa.Table, rows: np.ndarray) -> dict[str, IndexEntry]:
    sub = table.take(pa.array(rows, pa.int64()))
    num_perm = sub.schema.field("sig").type.list_size
    sigs = sub.column("sig").combine_chunks().flatten().to_numpy().reshape(-1, num_perm)
    created = sub.column("created_at").cast(pa.int64()).to_pylist()
    out = {}
    for i, (doc_id, dig, n_chars) in enumerate(
        zip(
            sub.column("doc_id").to_pylist(),
            sub.column("digest").to_pylist(),
            sub.column("n_chars").to_pylist(),
            strict=True,
        )
    ):
        out[doc_id] = IndexEntry(doc_id, dig, created[i], n_chars, sigs[i].copy())
    return out


class DedupIndex(ABC):
    """Signatures of documents kept by earlier batches."""

    where: str

    @abstractmethod
    def lookup(self, digests: Sequence[bytes], bands: np.ndarray, has_shingles: np.ndarray) -> Matches:
        """Entries sharing the exact digest of a query row, or an LSH band of a row with shingles."""

    @abstractmethod
    def add(self, signatures: Sequence[Path], kept: set[str] | None) -> int:
        """Add the kept documents' signatures (all when `kept` is None); safe to repeat; returns rows written."""

    def close(self) -> None:  # noqa: B027 - optional hook: only backends with connections override it
        """Release connections; the default holds none."""

    def __enter__(self) -> DedupIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalIndex(DedupIndex):
    """A folder of immutable Parquet segments, one per `add`, each written to a temporary name and renamed.

    Concurrent writers on one machine are safe: a segment appears whole or not at all, and its name is the digest
    of what it holds, so adding the same batch twice (or from two processes) yields one segment. A lookup streams
    one segment at a time (bounded memory); only matching rows' signatures are materialised.
    """

    def __init__(self, root: Path, config: DedupConfig, *, create: bool = True) -> None:
        """Open the index at `root`, creating it unless `create` is False (a check before any work writes nothing:
        the run may still stop before it has anything to add)."""
        self.root = Path(root)
        self.where = str(self.root)
        self.config = config
        self.segments = self.root / "segments"
        if create:
            self.segments.mkdir(parents=True, exist_ok=True)
        self._init_meta(create)

    def _init_meta(self, create: bool) -> None:
        meta_path = self.root / "meta.json"
        if not meta_path.exists():
            held = self.segment_paths()
            if held:  # meta.json was deleted (or lost): its segments' parameters are unknown, never guess them
                raise ConfigError(
                    f"dedup index {self.where} holds {len(held)} segment(s) but no meta.json, so the parameters its "
                    f"signatures were made with are unknown and this run's are not mixed in: put meta.json back, or "
                    f"move the folder away to start a new index (its documents are then no longer found as "
                    f"duplicates)"
                )
            if not create:
                return
            tmp = self.root / f".meta.{uuid.uuid4().hex}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps(index_meta(self.config), sort_keys=True, indent=2))
                f.flush()
                os.fsync(f.fileno())  # a crash must not leave an empty meta.json: the index would be refused
            try:
                os.link(tmp, meta_path)  # fails if another writer created it first: then we compare with theirs
                _fsync_dir(self.root)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        try:
            found = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"dedup index {self.where}: unreadable meta.json ({exc}); move the folder away") from exc
        check_meta(found, self.config, self.where)

    def segment_paths(self) -> list[Path]:
        return sorted(self.segments.glob("seg-*.parquet"))

    def _ordered_segments(self) -> list[Path]:
        """Segments in the order they were added (`ADDED_KEY`; segments written before it first, by name)."""
        order = []
        for seg in self.segment_paths():
            try:
                meta = pq.read_schema(seg).metadata or {}
            except (pa.ArrowInvalid, OSError) as exc:
                raise IntegrityError(
                    f"dedup index segment {seg} is unreadable ({exc}): move it out of {self.segments} and re-run; "
                    f"the documents it held are then no longer found as duplicates of later batches"
                ) from exc
            try:
                added = int(meta.get(ADDED_KEY, b"0"))
            except ValueError:
                added = 0
            order.append((added, seg.name, seg))
        return [seg for _, _, seg in sorted(order)]

    def lookup(self, digests: Sequence[bytes], bands: np.ndarray, has_shingles: np.ndarray) -> Matches:
        """Matches against the latest entry of each document: a doc_id added again (its document re-curated with
        other text) is found by its new digest and bands only; an older segment's entry of it is superseded."""
        qd = digest_keys(digests)
        qrows_sh = np.flatnonzero(has_shingles)
        pairs: set[tuple[int, str]] = set()
        entries: dict[str, IndexEntry] = {}
        nbands = bands.shape[1]
        for seg in self._ordered_segments():
            cols = ["doc_id", "digest", "n_shingles"] + [band_column(k) for k in range(nbands)]
            table = self._read(seg, cols)
            if entries:  # ids matched in older segments that this one holds again: their old entries are stale
                again = pc.is_in(table.column("doc_id"), value_set=pa.array(sorted(entries), pa.string()))
                stale = set(pc.filter(table.column("doc_id"), again).to_pylist())
                if stale:
                    pairs = {p for p in pairs if p[1] not in stale}
                    for doc_id in stale:
                        del entries[doc_id]
            sd = digest_keys(table.column("digest").to_pylist())
            qi, si = match_values(qd, sd)
            hits = [(int(q), int(s)) for q, s in zip(qi, si, strict=True)]
            seg_sh = np.flatnonzero(table.column("n_shingles").to_numpy() > 0)
            for k in range(nbands):
                stored = table.column(band_column(k)).to_numpy()[seg_sh]
                qi, si = match_values(bands[qrows_sh, k], stored)
                hits += [(int(qrows_sh[q]), int(seg_sh[s])) for q, s in zip(qi, si, strict=True)]
            if not hits:
                continue
            rows = np.unique([s for _, s in hits])
            full = self._read(seg, ["doc_id", "digest", "created_at", "n_chars", "sig"])
            found = entries_from(full, rows)
            entries.update(found)
            ids = table.column("doc_id").to_pylist()
            pairs.update((q, ids[s]) for q, s in hits)
        return Matches(sorted(pairs), entries)

    def _read(self, seg: Path, columns: list[str]) -> pa.Table:
        try:
            return pq.read_table(seg, columns=columns)
        except (pa.ArrowInvalid, OSError) as exc:
            raise IntegrityError(
                f"dedup index segment {seg} is unreadable ({exc}): move it out of {self.segments} and re-run; the "
                f"documents it held are then no longer found as duplicates of later batches"
            ) from exc

    def add(self, signatures: Sequence[Path], kept: set[str] | None) -> int:
        key = digest(
            {"files": [sha256_file(p) for p in signatures], "kept": sorted(kept) if kept is not None else None}
        )
        final = self.segments / f"seg-{key}.parquet"
        if final.exists():
            return 0
        tmp = self.segments / f".seg-{key}.{uuid.uuid4().hex}.tmp"
        rows = 0
        added = {ADDED_KEY: str(time.time_ns()).encode()}
        try:
            with open(tmp, "wb") as f:
                writer = None
                for table in iter_kept(signatures, kept, self.config):
                    writer = writer or pq.ParquetWriter(f, table.schema.with_metadata(added), compression="zstd")
                    writer.write_table(table)
                    rows += table.num_rows
                if writer is not None:
                    writer.close()
                f.flush()
                os.fsync(f.fileno())  # the bytes reach the disk before the name does: a crash leaves no cut segment
            if rows:
                os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        if not rows:
            return 0
        _fsync_dir(self.segments)
        log.info("dedup index %s: added %d documents in %s", self.where, rows, final.name)
        return rows


def _fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable: the index outlives every run, and a segment lost to a crash cannot be
    written again (the signatures it came from are gone)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_index(spec: str | None, workspace: Path, config: DedupConfig, *, create: bool = True) -> DedupIndex:
    """None → the local folder index `<workspace>/dedup-index/`; `redis://host:port/db[?prefix=name]` → Redis.

    With `create` False nothing is written: an index that does not exist yet is opened empty."""
    if spec is None or spec == "":
        return LocalIndex(Path(workspace) / "dedup-index", config, create=create)
    if spec.startswith(("redis://", "rediss://")):
        from lmforge.pipeline.dedup.redis_index import RedisIndex

        return RedisIndex(spec, config, create=create)
    raise ConfigError(f"dedup.index: {spec!r} is neither empty (local index) nor a redis:// URL")


def check_index(spec: str | None, workspace: Path, config: DedupConfig) -> None:
    """Refuse, before any curation work, an index that `open_index` would refuse at the snapshot step (other
    parameters, entries without metadata, an unsafe Redis), with the same message; writes nothing."""
    open_index(spec, workspace, config, create=False).close()
