"""Per-file signature computation: the parallel unit of deduplication (one task per snapshot part).

A signatures file is Parquet with one row per document, in the part's row order: `doc_id`, `digest` (16-byte exact
digest of the normalised text), `created_at`, `n_chars` (for the keeper rule), `n_shingles`, `sig` (num_perm uint32
MinHash values) and `band_00..band_NN` (uint64 LSH band hashes, one column each so banding reads one band at a time).
Its schema metadata holds `signature_params(config)`, so files made with other parameters are never mixed.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lmforge.pipeline.dedup import minhash, shingles
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.digest import digest, sha256_file
from lmforge.pipeline.errors import InputError, IntegrityError

log = logging.getLogger(__name__)

SIGNATURES_FORMAT = "lmforge.dedup-signatures"
SIGNATURES_VERSION = 1
#: Names of the hashing/normalisation recipes; bump when their output changes so old files and indexes are refused.
RECIPE = {
    "normalize": "ignorables-nfkc-casefold-digit0-word+marks-v2",
    "unit_hash": "utf8-poly-prefixsum-fmix64-v2",
    "shingle_hash": "poly-fmix64-top32-v2",
    "digest": "blake2b128-of-word-hashes-v2",
    # v1: by `lang` alone; v2: also by script, so a CJK text tagged `en` gets character shingles
    "shingle_units": "chars-by-lang-or-unspaced-script-v2",
}
_READ_ROWS = 2048
#: Characters hashed per numpy pass: the vectorised shingling needs ~40 bytes of scratch per UTF-8 byte, so this
#: bounds it to ~40 MB for English and ~120 MB for CJK (3 bytes a character).
_BATCH_CHARS = 1 << 20
_COLUMNS = ["doc_id", "text", "lang", "created_at", "n_chars"]


def signature_params(config: DedupConfig) -> dict:
    """Everything that changes a signature or band hash: the compatibility key of files and indexes."""
    bands, rows = minhash.band_params(config)
    return {
        "format": SIGNATURES_FORMAT,
        "format_version": SIGNATURES_VERSION,
        "scheme": "datasketch-affine32",
        "num_perm": config.num_perm,
        "seed": config.seed,
        "word_ngram": config.word_ngram,
        "char_ngram": config.char_ngram,
        "char_langs": sorted(config.char_langs),
        "bands": bands,
        "rows": rows,
        **RECIPE,
    }


def signatures_schema(config: DedupConfig) -> pa.Schema:
    bands, _ = minhash.band_params(config)
    fields = [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("digest", pa.binary(16), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("n_shingles", pa.int32(), nullable=False),
        pa.field("sig", pa.list_(pa.uint32(), config.num_perm), nullable=False),
    ]
    fields += [pa.field(band_column(k), pa.uint64(), nullable=False) for k in range(bands)]
    meta = {b"lmforge.dedup": json.dumps(signature_params(config), sort_keys=True).encode()}
    return pa.schema(fields, metadata=meta)


def band_column(k: int) -> str:
    return f"band_{k:02d}"


def batch_hashes(texts: list[str | None], langs: list[str | None], config: DedupConfig) -> shingles.BatchShingles:
    """Digests and 64-bit shingle hashes of documents: character shingles for a language in `char_langs` or a text
    mostly in a script without spaces (`shingles.unspaced_script`), else word shingles."""
    plain = [t or "" for t in texts]
    by_char = [
        (lang or "und") in config.char_langs or shingles.unspaced_script(t)
        for t, lang in zip(plain, langs, strict=True)
    ]
    return shingles.batch_shingles(plain, by_char, config.word_ngram, config.char_ngram)


def _slices(texts: list[str | None], limit: int) -> list[tuple[int, int]]:
    """Consecutive row ranges of at most `limit` characters each (a longer document gets a range of its own)."""
    out, start, size = [], 0, 0
    for i, t in enumerate(texts):
        n = len(t or "")
        if i > start and size + n > limit:
            out.append((start, i))
            start, size = i, 0
        size += n
    if start < len(texts):
        out.append((start, len(texts)))
    return out


def _batch_table(batch: pa.RecordBatch, config: DedupConfig, schema: pa.Schema) -> pa.Table:
    texts = batch.column("text").to_pylist()
    langs = batch.column("lang").to_pylist()
    digests: list[bytes] = []
    sigs, counts = [], []
    for lo, hi in _slices(texts, _BATCH_CHARS):
        got = batch_hashes(texts[lo:hi], langs[lo:hi], config)
        digests += got.digests
        counts.append(np.diff(got.offsets))
        # repeats are harmless to a minimum and rare in text: np.unique would cost more than it saves
        sigs.append(minhash.signatures_flat(shingles.to32(got.hashes), got.offsets, config.num_perm, config.seed))
    sig = np.concatenate(sigs) if sigs else np.empty((0, config.num_perm), np.uint32)
    bands, rows = minhash.band_params(config)
    bh = minhash.band_hashes(sig, bands, rows)
    cols = {
        "doc_id": batch.column("doc_id"),
        "digest": pa.array(digests, pa.binary(16)),
        "created_at": batch.column("created_at").cast(pa.timestamp("us", tz="UTC")),
        "n_chars": batch.column("n_chars").cast(pa.int64()),
        "n_shingles": pa.array(np.concatenate(counts) if counts else np.empty(0, np.int64), pa.int32()),
        "sig": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint32()), config.num_perm),
    }
    cols.update({band_column(k): pa.array(bh[:, k], pa.uint64()) for k in range(bands)})
    return pa.Table.from_pydict(cols, schema=schema)


def compute_signatures(part: Path, config: DedupConfig, out_dir: Path) -> Path:
    """Write the signatures of snapshot part `part` under `out_dir` and return the file; a no-op if it exists.

    The file name carries the part's sha256 and the parameters' digest, so it is reused only for the same bytes and
    parameters. Written to a temporary name and renamed, so a crash leaves no half file behind (and one cut short
    by a crash of the machine is written again).
    """
    part, out_dir = Path(part), Path(out_dir)
    if not part.is_file():
        raise InputError(part, "snapshot part not found")
    key = digest({"part": sha256_file(part), "params": signature_params(config)})
    out = out_dir / f"{part.stem}-{key}.sig.parquet"
    if _readable(out):
        return out
    try:
        pf = pq.ParquetFile(part)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(part, f"not a readable Parquet file ({exc}); re-run the curate stage that wrote it") from exc
    missing = sorted(set(_COLUMNS) - set(pf.schema_arrow.names))
    if missing:
        raise InputError(part, f"missing snapshot column(s) {missing}; expected the schema in schemas/snapshot.py")
    schema = signatures_schema(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{out.name}.{uuid.uuid4().hex}.tmp"
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in pf.iter_batches(batch_size=_READ_ROWS, columns=_COLUMNS):
                writer.write_table(_batch_table(batch, config, schema))
                rows += batch.num_rows
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("signatures for %s: %d documents -> %s", part, rows, out)
    return out


def _readable(path: Path) -> bool:
    """Whether a finished signatures file is there to reuse; one cut short (a crash before its bytes reached the disk)
    is computed again instead of failing every re-run."""
    if not path.is_file():
        return False
    try:
        pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        log.warning("signatures file %s is unreadable (%s): computing it again", path, exc)
        return False
    return True


def check_signatures(path: Path, config: DedupConfig) -> pq.ParquetFile:
    """Open a signatures file, refusing one made with other parameters (never mix signatures) or cut short."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:  # a disk that filled up, a crash of the machine before it was synced
        raise IntegrityError(
            f"{path}: signatures file is unreadable ({exc}); delete it so that the next run computes it again"
        ) from exc
    raw = (pf.schema_arrow.metadata or {}).get(b"lmforge.dedup")
    found = json.loads(raw) if raw else None
    expected = signature_params(config)
    if found != expected:
        diff = sorted(k for k in expected if (found or {}).get(k) != expected[k])
        raise IntegrityError(
            f"{path}: signatures were made with other parameters (differs in {diff}); delete the file to recompute"
        )
    return pf
