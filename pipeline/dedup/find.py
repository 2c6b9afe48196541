"""Find exact and near duplicates in a batch of snapshot parts, and against the persisted index.

1. Exact: documents with the same digest of normalised text form a group; its first document (input order) is its
   representative, the only one that takes part in the near-duplicate search.
2. Candidates: every representative's band hashes, keyed by band, are sorted externally (bucket files on disk,
   each sorted in memory on its own; see `_band_candidates`); documents with one key become candidate pairs
   (every pair in a group of up to GROUP_PAIRS; beyond, neighbours in doc order and every member with the group's
   pivot, the member in most such groups). Empty documents and documents
   shorter than n take no part.
3. Verification: a candidate whose MinHash estimate is at least SURE away from `threshold - margin` is decided
   by the estimate; a borderline in-batch pair by its true Jaccard on 64-bit shingle-hash sets, recomputed from
   the texts of those documents only; index candidates always by the estimate (their texts are elsewhere).
   A pair is kept when similarity >= threshold - margin. Reported similarities are true Jaccard where it was
   computed, else the estimate.
4. Clusters: union-find; the keeper of a cluster is an indexed document if there is one (it is already published),
   else the batch document that sorts first by (created_at, nulls last), then longest n_chars, then smallest
   doc_id. Every other batch member is a duplicate of the keeper, with its similarity to the keeper.

Everything is sorted by input order or doc_id, so results are identical across runs and worker counts.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.dedup import minhash
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.index import DedupIndex, IndexEntry
from lmforge.pipeline.dedup.signatures import band_column, batch_hashes, check_signatures
from lmforge.pipeline.dedup.unionfind import UnionFind
from lmforge.pipeline.errors import InputError
from lmforge.schemas.snapshot import DUPLICATES_SCHEMA

log = logging.getLogger(__name__)

EXACT, NEAR = "exact_duplicate", "near_duplicate"
#: Size of one on-disk band bucket, sorted in memory on its own.
BUCKET_BYTES = 64 << 20
_RECORD = np.dtype([("key", "<u8"), ("doc", "<i8")])
#: Band groups of up to this many documents are verified pair by pair; larger ones only between neighbours.
GROUP_PAIRS = 32
#: Distance of a MinHash estimate from the acceptance line beyond which no true Jaccard is computed.
SURE = 0.15
#: Documents asked of the index in one lookup (their bands in memory: 8 bytes per band each, 32 MB at 16 bands).
LOOKUP_ROWS = 1 << 18


@dataclass
class DedupResult:
    duplicates: pa.Table
    """DUPLICATES_SCHEMA rows, sorted by doc_id: doc_id, duplicate_of (the kept doc), similarity, reason."""
    stats: dict[str, int] = field(default_factory=dict)
    """Counts only: docs, exact_duplicate, near_duplicate, candidates, verified, clusters, index_matches ..."""

    @property
    def removed(self) -> set[str]:
        return set(self.duplicates.column("doc_id").to_pylist())


@dataclass
class _Batch:
    """Per-document columns of the batch, in input order (no text)."""

    doc_ids: list[str]
    digests: list[bytes]
    created: list[int | None]
    n_chars: list[int]
    n_shingles: np.ndarray
    part_of: np.ndarray
    row_in_part: np.ndarray

    def rank(self, i: int) -> tuple:
        return _keeper_key(self.created[i], self.n_chars[i], self.doc_ids[i])


def _keeper_key(created: int | None, n_chars: int, doc_id: str) -> tuple:
    return (created is None, created or 0, -n_chars, doc_id)


def _load(signatures: Sequence[Path], config: DedupConfig) -> _Batch:
    cols = ["doc_id", "digest", "created_at", "n_chars", "n_shingles"]
    ids, digs, created, n_chars, n_sh, part_of, rows = [], [], [], [], [], [], []
    for p, path in enumerate(signatures):
        t = check_signatures(Path(path), config).read(columns=cols)
        ids += t.column("doc_id").to_pylist()
        digs += t.column("digest").to_pylist()
        created += t.column("created_at").cast(pa.int64()).to_pylist()
        n_chars += t.column("n_chars").to_pylist()
        n_sh.append(t.column("n_shingles").to_numpy())
        part_of.append(np.full(t.num_rows, p, dtype=np.int32))
        rows.append(np.arange(t.num_rows, dtype=np.int64))
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.empty(0, dt)  # noqa: E731
    return _Batch(ids, digs, created, n_chars, cat(n_sh, np.int32), cat(part_of, np.int32), cat(rows, np.int64))


def _exact_representatives(digests: list[bytes]) -> np.ndarray:
    """rep[i] = first document (input order) with document i's digest."""
    first: dict[bytes, int] = {}
    return np.array([first.setdefault(d, i) for i, d in enumerate(digests)], dtype=np.int64)


def _band_candidates(signatures: Sequence[Path], active: np.ndarray, nbands: int, workdir: Path) -> np.ndarray:
    """Unique (a, b) pairs, a < b, of active documents sharing a band hash; shape (k, 2).

    External sort: every (band key, document) record is appended to one of B bucket files on disk (by the key's top
    bits), B chosen so that a bucket holds about BUCKET_BYTES; then each bucket is loaded and sorted alone, and
    documents with equal keys in it are candidates (`_group_pairs`). Memory is one signatures file's band columns
    plus one bucket, whatever the number of documents, plus the candidate pairs found and the members of groups
    larger than GROUP_PAIRS (8 bytes each, for `_pivot_pairs`).
    """
    records = int(np.count_nonzero(active)) * nbands
    bits = max(0, int(np.ceil(np.log2(max(1, records * _RECORD.itemsize) / BUCKET_BYTES))))
    scratch = Path(workdir) / f"bands-{uuid.uuid4().hex}"
    scratch.mkdir(parents=True)
    files = [open(scratch / f"bucket-{b:05d}.bin", "wb") for b in range(1 << bits)]  # noqa: SIM115
    try:
        offset = 0
        for path in signatures:
            t = pq.read_table(path, columns=[band_column(k) for k in range(nbands)])
            loc = np.flatnonzero(active[offset : offset + t.num_rows])
            rec = np.empty(len(loc) * nbands, dtype=_RECORD)
            for k in range(nbands):
                part = rec[k * len(loc) : (k + 1) * len(loc)]
                part["key"] = minhash.band_keys(t.column(k).to_numpy()[loc], k)
                part["doc"] = loc + offset
            offset += t.num_rows
            if bits:
                bucket = (rec["key"] >> np.uint64(64 - bits)).astype(np.int64)
                order = np.argsort(bucket, kind="stable")
                bounds = np.searchsorted(bucket[order], np.arange((1 << bits) + 1))
                rec = rec[order]
                for b, f in enumerate(files):
                    rec[bounds[b] : bounds[b + 1]].tofile(f)
            else:
                rec.tofile(files[0])
        for f in files:
            f.close()
        found, large = [], []
        for f in files:
            rec = np.fromfile(f.name, dtype=_RECORD)
            order = np.argsort(rec["key"])
            keys, docs = rec["key"][order], rec["doc"][order]
            found.append(_group_pairs(keys, docs))
            large.append(_large_groups(keys, docs))
        if any(len(sizes) for _, sizes in large):
            found.append(_pivot_pairs(np.concatenate([d for d, _ in large]), np.concatenate([s for _, s in large])))
    finally:
        for f in files:
            f.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def _group_pairs(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """(a, b) pairs, a < b, of documents with equal keys (`keys` sorted).

    Every pair of a group of up to GROUP_PAIRS members: verification drops pairs, so pairing only neighbours would
    lose the edits of one original that meet it only through each other (each edit ~0.75 similar to the original,
    ~0.6 to another edit), and which were paired depended on the sort's order of ties. A larger group pairs
    neighbours in doc order only, which bounds the work on templated pages (`_pivot_pairs` adds one pair per
    member of those).
    """
    if len(keys) < 2:
        return np.empty((0, 2), dtype=np.int64)
    same = keys[1:] == keys[:-1]
    grouped = np.concatenate(([False], same)) | np.concatenate((same, [False]))
    keys, docs = keys[grouped], docs[grouped]  # most keys are alone: order and pair only the rest
    docs = docs[np.lexsort((docs, keys))]  # keys are sorted already: this orders docs within each group
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.append(starts, len(keys)))
    small = np.repeat(sizes <= GROUP_PAIRS, sizes)
    found = []
    for d in range(1, GROUP_PAIRS):
        same = keys[d:] == keys[:-d]
        if d > 1:
            same &= small[d:]
        if not same.any():
            break  # no group has more than d members (beyond the large ones, which only pair neighbours)
        found.append(np.stack([docs[:-d][same], docs[d:][same]], axis=1))
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)


def _large_groups(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(members, sizes) of the groups of equal keys (`keys` sorted) larger than GROUP_PAIRS: members of each group
    sorted by doc, groups one after the other."""
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    if len(keys) <= GROUP_PAIRS:
        return empty
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.append(starts, len(keys)))
    big = sizes > GROUP_PAIRS
    if not big.any():
        return empty
    mask = np.repeat(big, sizes)
    keys, docs = keys[mask], docs[mask]
    return docs[np.lexsort((docs, keys))], sizes[big]


def _pivot_pairs(docs: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(a, b) pairs, a < b, of every member of a large band group with the group's pivot: the member found in the
    most large groups (then the smallest doc).

    Neighbours alone miss the copies of one text that are each edited apart: each edit is ~0.75 similar to the
    original but ~0.6 to another edit, so in a group of 300 edits and their original only the original's two
    neighbours were verified, and 280 duplicates were kept. The original shares a band with every edit, so it is in
    every large group of its cluster while an edit is in a few: the pivot finds it, at one pair per member."""
    hub = np.bincount(docs)
    gid = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((docs, -hub[docs], gid))
    pivot = np.repeat(docs[order[np.cumsum(sizes) - sizes]], sizes)
    keep = docs != pivot
    return np.stack([np.minimum(pivot, docs)[keep], np.maximum(pivot, docs)[keep]], axis=1)


def _shingle_sets(parts: Sequence[Path], batch: _Batch, docs: np.ndarray, config: DedupConfig) -> dict[int, np.ndarray]:
    """Sorted unique 64-bit shingle hashes of `docs`, read back from their parts one part at a time."""
    out: dict[int, np.ndarray] = {}
    by_part: dict[int, list[int]] = defaultdict(list)
    for i in docs:
        by_part[int(batch.part_of[i])].append(int(i))
    for p, members in sorted(by_part.items()):
        try:
            table = pq.read_table(parts[p], columns=["doc_id", "text", "lang"])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(parts[p], f"cannot read snapshot part for verification ({exc})") from exc
        rows = table.take(pa.array([batch.row_in_part[i] for i in members], pa.int64()))
        for i, doc_id in zip(members, rows.column("doc_id").to_pylist(), strict=True):
            if doc_id != batch.doc_ids[i]:
                raise InputError(
                    parts[p],
                    f"row {batch.row_in_part[i]} is {doc_id!r}, signatures say "
                    f"{batch.doc_ids[i]!r}: parts and signatures are not aligned",
                )
        got = batch_hashes(rows.column("text").to_pylist(), rows.column("lang").to_pylist(), config)
        out.update({i: np.unique(got.of(k)) for k, i in enumerate(members)})
    return out


def _load_sigs(signatures: Sequence[Path], docs: set[int]) -> dict[int, np.ndarray]:
    """MinHash signatures of the given global rows, one signatures file at a time."""
    out: dict[int, np.ndarray] = {}
    offset = 0
    for path in signatures:
        pf = pq.ParquetFile(path)
        n = pf.metadata.num_rows
        wanted = sorted(i for i in docs if offset <= i < offset + n)
        if wanted:
            col = pf.read(columns=["sig"]).column("sig").combine_chunks()
            flat = col.flatten().to_numpy().reshape(n, col.type.list_size)
            out.update({i: flat[i - offset].copy() for i in wanted})
        offset += n
    return out


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def _lookup_index(
    index: DedupIndex, signatures: Sequence[Path], batch: _Batch, reps: np.ndarray, nbands: int
) -> tuple[list[tuple[int, str]], dict[str, IndexEntry], dict[int, np.ndarray]]:
    """Index candidates of each exact-duplicate representative, asked `LOOKUP_ROWS` representatives at a time
    across signatures files (a lookup reads the whole index, so it is not asked once per file); also returns the
    signatures of the documents that have candidates (for estimates)."""
    pairs: list[tuple[int, str]] = []
    entries: dict[str, IndexEntry] = {}
    queued_ids: list[np.ndarray] = []
    queued_bands: list[np.ndarray] = []
    queued = 0

    def ask() -> None:
        nonlocal queued
        ids, bands = np.concatenate(queued_ids), np.concatenate(queued_bands)
        found = index.lookup([batch.digests[i] for i in ids], bands, batch.n_shingles[ids] > 0)
        pairs.extend((int(ids[q]), doc_id) for q, doc_id in found.pairs)  # ids increase: pairs stay in order
        entries.update(found.entries)
        queued_ids.clear()
        queued_bands.clear()
        queued = 0

    offset = 0
    for path in signatures:
        t = pq.read_table(path, columns=[band_column(k) for k in range(nbands)])
        glob = np.arange(offset, offset + t.num_rows)
        local = np.flatnonzero(reps[glob] == glob)
        if len(local):
            queued_ids.append(offset + local)
            queued_bands.append(np.stack([t.column(band_column(k)).to_numpy()[local] for k in range(nbands)], axis=1))
            queued += len(local)
            if queued >= LOOKUP_ROWS:
                ask()
        offset += t.num_rows
    if queued:
        ask()
    return pairs, entries, _load_sigs(signatures, {q for q, _ in pairs})


def find_duplicates(
    parts: Sequence[Path],
    signatures: Sequence[Path],
    config: DedupConfig,
    workdir: Path,
    index: DedupIndex | None,
) -> DedupResult:
    """Duplicates within the batch (`parts`, with their `signatures` in the same order) and against `index`.

    A document matching an index entry is a duplicate of the indexed document; an entry with the document's own
    doc_id is ignored, so re-running a batch whose signatures were already added gives the same result. An entry
    whose doc_id the batch holds with other text (a re-curated document) still stands for its published text: a
    copy of that text under another id is its duplicate, while the document with the new text is kept.
    `workdir` is scratch space for the on-disk band sort (its files are removed before returning).
    """
    if len(parts) != len(signatures):
        raise InputError(str(workdir), f"{len(parts)} parts but {len(signatures)} signatures files")
    batch = _load(signatures, config)
    n = len(batch.doc_ids)
    nbands, _ = minhash.band_params(config)
    reps = _exact_representatives(batch.digests)
    active = (reps == np.arange(n)) & (batch.n_shingles > 0)
    cand = _band_candidates(signatures, active, nbands, workdir)
    # Clear cases are decided by the MinHash estimate (SURE is > 3 standard deviations at 128 permutations); only
    # borderline pairs pay for re-reading texts and computing the true Jaccard of their shingle sets.
    sigs = _load_sigs(signatures, set(np.unique(cand).tolist()))
    sims: dict[tuple[int, int], float] = {}
    borderline = []
    for a, b in cand.tolist():
        est = minhash.estimate(sigs[a], sigs[b])
        if abs(est - config.min_similarity) >= SURE:
            sims[(a, b)] = est
        else:
            borderline.append((a, b))
    sets = _shingle_sets(parts, batch, np.unique(np.array(borderline, dtype=np.int64)), config)
    sims.update({(a, b): _jaccard(sets[a], sets[b]) for a, b in borderline})
    verified = [(a, b, s) for (a, b), s in sorted(sims.items()) if s >= config.min_similarity]

    uf = UnionFind(n)
    for i in np.flatnonzero(reps != np.arange(n)):
        uf.union(int(i), int(reps[i]))
    for a, b, _ in verified:
        uf.union(a, b)

    ipairs, entries, node_of = [], {}, {}
    if index is not None and n:
        row_of = {doc_id: i for i, doc_id in enumerate(batch.doc_ids)}
        ipairs, entries, isigs = _lookup_index(index, signatures, batch, reps, nbands)
        sigs.update(isigs)
        # An entry with the id and text of a batch document is that document (a re-run, or signatures added
        # already): it takes part as the batch member. An entry with the id of a batch document but other text is
        # the published text that document replaces: its snapshot stays, so a copy of it under another id in this
        # batch is its duplicate, as in a later batch; only the replacing document is never its own duplicate.
        ipairs = [
            (q, d)
            for q, d in ipairs
            if batch.doc_ids[q] != d and (d not in row_of or entries[d].digest != batch.digests[row_of[d]])
        ]
        matched = [
            (q, doc_id)
            for q, doc_id in ipairs
            if entries[doc_id].digest == batch.digests[q]
            or minhash.estimate(sigs[q], entries[doc_id].sig) >= config.min_similarity
        ]
        for doc_id in sorted({d for _, d in matched}):
            node_of[doc_id] = n + len(node_of)  # indexed documents become nodes after the batch's own
        uf.grow(n + len(node_of))
        for q, doc_id in matched:
            uf.union(q, node_of[doc_id])
    index_ids = {v: k for k, v in node_of.items()}

    rows: list[tuple[str, str, float, str]] = []
    pending_sig: list[tuple[int, str]] = []
    groups = uf.groups()
    for members in groups.values():
        idx_members = [m for m in members if m >= n]
        if idx_members:
            keeper, keeper_id = -1, min((index_ids[m] for m in idx_members), key=lambda d: _entry_key(entries[d]))
        else:
            keeper, keeper_id = min(members, key=batch.rank), ""

        for m in members:
            if m >= n or (not idx_members and m == keeper) or batch.doc_ids[m] == keeper_id:
                continue  # an indexed document, the keeper, or the batch's new text of the indexed keeper
            if idx_members:
                e = entries[keeper_id]
                if e.digest == batch.digests[m]:
                    rows.append((batch.doc_ids[m], keeper_id, 1.0, EXACT))
                else:
                    pending_sig.append((m, keeper_id))
            elif batch.digests[m] == batch.digests[keeper]:
                rows.append((batch.doc_ids[m], batch.doc_ids[keeper], 1.0, EXACT))
            else:
                ra, rb = int(reps[m]), int(reps[keeper])
                sim = (
                    _jaccard(sets[ra], sets[rb]) if ra in sets and rb in sets else minhash.estimate(sigs[ra], sigs[rb])
                )
                rows.append((batch.doc_ids[m], batch.doc_ids[keeper], sim, NEAR))
    if pending_sig:
        missing = {int(reps[m]) for m, _ in pending_sig} - set(sigs)
        if missing:
            sigs.update(_load_sigs(signatures, missing))
        for m, keeper_id in pending_sig:
            rows.append(
                (batch.doc_ids[m], keeper_id, minhash.estimate(sigs[int(reps[m])], entries[keeper_id].sig), NEAR)
            )

    rows.sort()
    table = pa.table(
        {
            "doc_id": [r[0] for r in rows],
            "duplicate_of": [r[1] for r in rows],
            "similarity": pa.array([r[2] for r in rows], pa.float32()),
            "reason": [r[3] for r in rows],
        },
        schema=DUPLICATES_SCHEMA,
    )
    stats = {
        "docs": n,
        "exact_duplicate": sum(r[3] == EXACT for r in rows),
        "near_duplicate": sum(r[3] == NEAR for r in rows),
        "no_shingles": int(np.count_nonzero(batch.n_shingles == 0)),
        "candidates": len(cand),
        "verified": len(verified),
        "clusters": len(groups),
        "index_candidates": len(ipairs),
        # keepers that are indexed documents: `entries` also holds the batch's own documents (a re-run finds them)
        "index_matches": sum(1 for r in rows if r[1] in node_of),
    }
    log.info("dedup of %d documents: %s", n, stats)
    return DedupResult(table, stats)


def _entry_key(e: IndexEntry) -> tuple:
    return _keeper_key(e.created_at, e.n_chars, e.doc_id)
