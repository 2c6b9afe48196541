"""Encode a snapshot into token shards (DESIGN.md, "Token shards"; format in `schemas/shards.py`).

Three steps, so a flow can map the middle one as tasks and a plain call can run it in processes:

1. `plan_shards`: ids, the units of work (one per snapshot file row group) and the train/val rule — cheap.
2. `encode_unit`: encode one row group into a part file (tokens + per-document lengths, bytes, language, split);
   written atomically and skipped when present and readable, so an interrupted build resumes at the grain of a row
   group.
3. `assemble_shards`: concatenate the parts in unit order into shards of about `shard_tokens` tokens, cut at
   document boundaries, with a companion `.docs.parquet` per shard, then the manifest.

The shards depend only on the parts and their order, never on how many workers made them, so the output is
byte-identical for any worker count.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sentencepiece as spm

from lmforge.pipeline.configuring import to_dict
from lmforge.pipeline.errors import InputError, IntegrityError
from lmforge.pipeline.stage import building, is_done, stage_dir, stage_id, write_manifest
from lmforge.pipeline.tokenize.config import BOS_ID, EOS_ID, ShardsConfig
from lmforge.pipeline.tokenize.sampling import open_part, read_ids, snapshot_files, stable_unit, stable_units
from lmforge.pipeline.tokenize.trainer import (
    MODEL_NAME,
    TOKENIZER_FORMAT,
    encode_exact,
    load_tokenizer,
    tokenizer_sha256,
)
from lmforge.schemas.manifest import MANIFEST_NAME, Manifest
from lmforge.schemas.shards import DOCS_SCHEMA, SHARDS_FORMAT, ShardWriter, docs_path, dtype_for_vocab

log = logging.getLogger(__name__)

SPLITS = ("train", "val")


@dataclass(frozen=True, slots=True)
class Unit:
    """One row group of one snapshot file: the grain of encoding work (and of a Prefect task)."""

    file: str
    row_group: int
    name: str


@dataclass(frozen=True, slots=True)
class ShardsPlan:
    """Everything the encode and assemble steps need; paths, ids and counts only."""

    id: str
    out_dir: str
    parts_dir: str
    snapshot_id: str
    tokenizer_id: str
    tokenizer_model: str
    tokenizer_sha256: str
    vocab_size: int
    config: ShardsConfig
    units: tuple[Unit, ...] = ()
    forced_val: tuple[str, ...] = ()
    forced_train: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return is_done(self.out_dir)


def is_val(
    doc_id: str, config: ShardsConfig, forced_val: tuple[str, ...] = (), forced_train: tuple[str, ...] = ()
) -> bool:
    """The split rule: a stable hash of `doc_id` below `val_fraction` (or forced either way, see `plan_shards`)."""
    if doc_id in forced_train:
        return False
    return stable_unit(doc_id, f"split{config.seed}") < config.val_fraction or doc_id in forced_val


def val_flags(
    doc_ids: list[str], config: ShardsConfig, forced_val: tuple[str, ...] = (), forced_train: tuple[str, ...] = ()
) -> np.ndarray:
    """`is_val` of many documents at once (bool array)."""
    flags = stable_units(doc_ids, f"split{config.seed}") < config.val_fraction
    if forced_val:
        flags[[i for i, d in enumerate(doc_ids) if d in forced_val]] = True
    if forced_train:
        flags[[i for i, d in enumerate(doc_ids) if d in forced_train]] = False
    return flags


def plan_shards(snapshot_dir: Path, tokenizer_dir: Path, workspace: Path, config: ShardsConfig) -> ShardsPlan:
    """Resolve ids and list the units. Reads manifests, Parquet footers and `doc_id`s only (and removes the parts
    a build killed after finishing left behind)."""
    snapshot_dir, tokenizer_dir = Path(snapshot_dir), Path(tokenizer_dir)
    snapshot = Manifest.read(snapshot_dir)
    tokenizer = Manifest.read(tokenizer_dir)
    if tokenizer.format != TOKENIZER_FORMAT:
        raise IntegrityError(f"{tokenizer_dir}: manifest format {tokenizer.format!r} is not {TOKENIZER_FORMAT!r}")
    if tokenizer.inputs.get("snapshot") not in (None, snapshot.id):
        log.info(
            "tokenizer %s was trained on snapshot %s, encoding %s",
            tokenizer.id,
            tokenizer.inputs["snapshot"],
            snapshot.id,
        )
    id_ = stage_id({"snapshot": snapshot.id, "tokenizer": tokenizer.id}, to_dict(config))
    out = stage_dir(workspace, "shards", id_)
    plan = ShardsPlan(
        id=id_,
        out_dir=str(out),
        parts_dir=str(out.parent / f".parts-{id_}"),
        snapshot_id=snapshot.id,
        tokenizer_id=tokenizer.id,
        tokenizer_model=str(tokenizer_dir / MODEL_NAME),
        tokenizer_sha256=tokenizer_sha256(tokenizer_dir),
        vocab_size=_vocab_size(tokenizer, tokenizer_dir),
        config=config,
    )
    if plan.done:
        _remove_parts(plan)
        return plan
    # the model file must be the one its manifest (and so every shard header) names, of the size it records: the
    # size picks the shards' dtype, and ids past a uint16 would wrap
    if (pieces := load_tokenizer(tokenizer_dir).vocab_size()) != plan.vocab_size:
        raise IntegrityError(
            f"{tokenizer_dir / MANIFEST_NAME}: stats.vocab_size is {plan.vocab_size}, but {MODEL_NAME} has {pieces} "
            "pieces; the manifest was changed: train the tokenizer again"
        )
    files = snapshot_files(snapshot_dir)
    footers = [open_part(path).metadata for path in files]  # footers only: no file stays open
    units = tuple(
        Unit(str(path), rg, f"{i:05d}-{rg:05d}")
        for i, (path, meta) in enumerate(zip(files, footers, strict=True))
        for rg in range(meta.num_row_groups)
    )
    n_docs = sum(meta.num_rows for meta in footers)
    if not n_docs:
        raise InputError(snapshot_dir, "snapshot has no documents; nothing to encode")
    forced: tuple[str, ...] = ()
    # Reads ids only until the first val document (usually within the first few dozen), all of them only when
    # the fraction gives no val document at all: then the lowest-hash one is forced into val.
    if config.val_fraction > 0 and n_docs >= 2 and not any(is_val(d, config) for (d,) in read_ids(files, ("doc_id",))):
        ids = (d for (d,) in read_ids(files, ("doc_id",)))
        forced = (min(ids, key=lambda d: stable_unit(d, f"split{config.seed}")),)
    # And never every document in val (one document whose hash fell below the fraction, or a few that all did): the
    # train split would be empty. Reads ids until the first train document; the highest-hash one is forced to train.
    forced_train: tuple[str, ...] = ()
    if config.val_fraction > 0 and all(is_val(d, config, forced) for (d,) in read_ids(files, ("doc_id",))):
        ids = (d for (d,) in read_ids(files, ("doc_id",)))
        forced_train = (max(ids, key=lambda d: stable_unit(d, f"split{config.seed}")),)
    return replace(plan, units=units, forced_val=forced, forced_train=forced_train)


def _vocab_size(manifest: Manifest, tokenizer_dir: Path) -> int:
    """`stats.vocab_size` of a tokenizer manifest, which shards cannot be built without (it picks their dtype)."""
    value = manifest.stats.get("vocab_size") if isinstance(manifest.stats, dict) else None
    if value is None:
        raise IntegrityError(
            f"{tokenizer_dir / MANIFEST_NAME}: no stats.vocab_size in the tokenizer manifest; the folder was not "
            "written by `lmforge tokenizer train` or was changed: train the tokenizer again"
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise IntegrityError(
            f"{tokenizer_dir / MANIFEST_NAME}: stats.vocab_size is {value!r}, not a positive whole number; the "
            "manifest was changed: train the tokenizer again"
        )
    return value


@lru_cache(maxsize=2)
def _processor(model_path: str) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=model_path)


def _with_specials(ids: list[np.ndarray], dtype: np.dtype, bos: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flatten per-document ids into one array with (BOS and) EOS around each document; also return lengths."""
    eos, start = np.array([EOS_ID], dtype=np.int32), np.array([BOS_ID], dtype=np.int32)
    pieces = [p for x in ids for p in ((start, x, eos) if bos else (x, eos))]
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)) + (2 if bos else 1)
    if not pieces:
        return np.empty(0, dtype=dtype), lengths
    return np.concatenate(pieces).astype(dtype, copy=False), lengths


def part_path(plan: ShardsPlan, unit: Unit) -> Path:
    """A unit's encoded part: an uncompressed Arrow IPC file (written and read back at memory speed)."""
    return Path(plan.parts_dir) / f"{unit.name}.arrow"


def encode_unit(plan: ShardsPlan, unit: Unit, threads: int = 1) -> dict[str, int]:
    """Encode one row group into its part file (skipped if present and readable); returns document and token counts.

    `threads` is sentencepiece's own batch parallelism (C++ threads, no GIL): it keeps every core busy when there
    are fewer row groups than cores. The ids do not depend on it."""
    path = part_path(plan, unit)
    if not _readable(path):
        sp = _processor(plan.tokenizer_model)
        try:
            table = pq.ParquetFile(unit.file).read_row_group(unit.row_group, columns=["doc_id", "text", "lang"])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                unit.file, f"cannot read row group {unit.row_group} ({exc}); is the snapshot intact?"
            ) from exc
        texts = table.column("text").to_pylist()
        dtype = dtype_for_vocab(plan.vocab_size)
        # out_type="numpy": ids come back as int32 buffers straight from C++, never as Python ints
        ids = encode_exact(sp, texts, num_threads=threads)
        tokens, n_tokens = _with_specials(ids, dtype, plan.config.add_bos)
        val = val_flags(table.column("doc_id").to_pylist(), plan.config, plan.forced_val, plan.forced_train)
        offsets = pa.array(np.concatenate([[0], np.cumsum(n_tokens)]), pa.int64())
        part = pa.table(
            {
                "val": pa.array(val, pa.bool_()),
                "lang": table.column("lang"),
                "n_bytes": pc.binary_length(table.column("text")).cast(pa.int64()),
                "n_tokens": pa.array(n_tokens, pa.int32()),
                "tokens": pa.LargeListArray.from_arrays(offsets, pa.array(tokens)),
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, part.schema) as writer:
            writer.write_table(part)
        os.replace(tmp, path)
    return {"unit": unit.name, "docs": _read_part(path).num_rows}


def _readable(path: Path) -> bool:
    """Whether a finished part is there to reuse; one cut short (a crash of the machine before its bytes reached the
    disk: empty, truncated or zero-filled) is encoded again instead of failing every re-run."""
    if not path.is_file():
        return False
    try:
        _read_part(path)
    except IntegrityError as exc:
        log.warning("part %s is unreadable (%s): encoding its row group again", path, exc.__cause__)
        return False
    return True


def _read_part(path: Path) -> pa.Table:
    try:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise IntegrityError(
            f"{path}: unreadable part ({exc}); run lmforge shards build again to re-encode it"
        ) from exc


def _remove_parts(plan: ShardsPlan) -> None:
    """Remove the parts of finished shards (also those a build killed between the rename and this left behind)."""
    if Path(plan.parts_dir).is_dir():
        log.info("removing parts %s of finished shards %s", plan.parts_dir, plan.id)
        shutil.rmtree(plan.parts_dir, ignore_errors=True)


class _SplitWriter:
    """Cut one split's document stream into shards of about `shard_tokens`, at document boundaries."""

    def __init__(self, folder: Path, split: str, plan: ShardsPlan) -> None:
        self.folder, self.split, self.plan = folder, split, plan
        self.itemsize = dtype_for_vocab(plan.vocab_size).itemsize
        self.shard: ShardWriter | None = None
        self.index_rows: list[pa.RecordBatch] = []
        self.written: dict[str, dict[str, int]] = {}

    def add(self, tokens: np.ndarray, n_tokens: np.ndarray, n_bytes: np.ndarray, langs: pa.Array) -> None:
        starts = np.concatenate([[0], np.cumsum(n_tokens)])
        pos = 0
        while pos < len(n_tokens):
            if self.shard is None:
                name = f"{self.split}-{len(self.written):05d}.bin"
                self.shard = ShardWriter(self.folder / name, self.itemsize, self.plan.tokenizer_sha256)
            room = self.plan.config.shard_tokens - self.shard.token_count
            take = min(int(np.searchsorted(starts[pos + 1 :] - starts[pos], room)) + 1, len(n_tokens) - pos)
            lo, hi = pos, pos + take
            self.index_rows.append(
                pa.record_batch(
                    [
                        pa.array(self.shard.token_count + starts[lo:hi] - starts[lo], pa.int64()),
                        pa.array(n_tokens[lo:hi], pa.int32()),
                        pa.array(n_bytes[lo:hi], pa.int64()),
                        langs.slice(lo, take),
                    ],
                    schema=DOCS_SCHEMA,
                )
            )
            self.shard.write(tokens[starts[lo] : starts[hi]], take)
            if self.shard.token_count >= self.plan.config.shard_tokens:
                self._close()
            pos = hi

    def _close(self) -> None:
        assert self.shard is not None
        header = self.shard.close()
        table = pa.Table.from_batches(self.index_rows, schema=DOCS_SCHEMA)
        pq.write_table(table, docs_path(self.shard.path), compression="zstd")
        self.written[self.shard.path.name] = {"tokens": header.token_count, "docs": header.doc_count}
        self.shard, self.index_rows = None, []

    def finish(self) -> dict[str, dict[str, int]]:
        if self.shard is not None:
            self._close()
        return self.written


def _parts(plan: ShardsPlan) -> Iterator[pa.Table]:
    for unit in plan.units:
        path = part_path(plan, unit)
        if not path.is_file():
            raise IntegrityError(f"{path}: part missing; run encode_unit for {unit.name} before assembling")
        yield _read_part(path)


def assemble_shards(plan: ShardsPlan) -> Path:
    """Write shards, companions and manifest from the finished parts, in unit order; removes the parts."""
    out = Path(plan.out_dir)
    if plan.done:
        _remove_parts(plan)
        return out
    lang_stats: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {s: dict.fromkeys(("docs", "tokens", "bytes"), 0) for s in SPLITS}
    )
    specials = 2 if plan.config.add_bos else 1
    text_tokens = 0
    with building(out) as tmp:
        writers = {s: _SplitWriter(tmp, s, plan) for s in SPLITS}
        for part in _parts(plan):
            val = part.column("val").to_numpy(zero_copy_only=False)
            n_tokens = part.column("n_tokens").to_numpy()
            text_tokens += int(n_tokens.sum()) - specials * len(n_tokens)
            n_bytes = part.column("n_bytes").to_numpy()
            tokens = part.column("tokens").combine_chunks().flatten().to_numpy()
            langs = part.column("lang").combine_chunks()
            per_token_val = np.repeat(val, n_tokens)
            for split, mask, tmask in (("train", ~val, ~per_token_val), ("val", val, per_token_val)):
                if not mask.any():
                    continue
                idx = np.flatnonzero(mask)
                writers[split].add(tokens[tmask], n_tokens[mask], n_bytes[mask], langs.take(pa.array(idx)))
                codes = langs.take(pa.array(idx)).dictionary_encode()
                which = codes.indices.to_numpy(zero_copy_only=False)
                for k, lang in enumerate(codes.dictionary.to_pylist()):
                    mine = which == k
                    s = lang_stats[lang][split]
                    s["docs"] += int(np.count_nonzero(mine))
                    s["tokens"] += int(n_tokens[mask][mine].sum())
                    s["bytes"] += int(n_bytes[mask][mine].sum())
        if text_tokens == 0:
            # Every document's text is empty: the shards would hold nothing but separators, under a finished
            # manifest, and training would fail later on "too few tokens" of a split that looks built.
            for writer in writers.values():
                writer.finish()  # close the open shard files before `building` removes the folder
            raise InputError(
                Path(plan.units[0].file).parent.parent,
                "every document of the snapshot is empty (no tokens besides the EOS separators); nothing to train "
                "on: curate text into it first",
            )
        shards = {s: w.finish() for s, w in writers.items()}
        counts: dict[str, dict[str, int]] = {}
        for files in shards.values():
            for name, c in files.items():
                counts[name] = {"tokens": c["tokens"]}
                counts[docs_path(name).name] = {"rows": c["docs"]}
        splits = {
            s: {
                "shards": len(files),
                "tokens": sum(c["tokens"] for c in files.values()),
                "docs": sum(c["docs"] for c in files.values()),
                "bytes": sum(lang_stats[lang][s]["bytes"] for lang in lang_stats),
            }
            for s, files in shards.items()
        }
        write_manifest(
            tmp,
            format=SHARDS_FORMAT,
            id_=plan.id,
            inputs={
                "snapshot": plan.snapshot_id,
                "tokenizer": plan.tokenizer_id,
                "tokenizer_sha256": plan.tokenizer_sha256,
            },
            params=to_dict(plan.config),
            stats={
                "vocab_size": plan.vocab_size,
                "dtype": dtype_for_vocab(plan.vocab_size).name,
                "eos_id": EOS_ID,
                "bos_id": BOS_ID if plan.config.add_bos else None,
                "units": len(plan.units),
                "splits": splits,
                "languages": {lang: lang_stats[lang] for lang in sorted(lang_stats)},
            },
            counts=counts,
        )
    _remove_parts(plan)
    log.info("shards %s written: %s", out, {s: v["tokens"] for s, v in splits.items()})
    return out


def _pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes from a fork server that has imported this module once: cheap to start, and safe in a
    parent with threads (Prefect's), unlike plain fork."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def build_shards(
    snapshot_dir: Path, tokenizer_dir: Path, workspace: Path, config: ShardsConfig, workers: int | None = None
) -> Path:
    """Encode `snapshot_dir` with the tokenizer into `<ws>/shards/<id>`; no-op if done. `workers` encoders (this
    process and worker processes) encode row groups in parallel (default: all cores); the result does not depend
    on it."""
    plan = plan_shards(snapshot_dir, tokenizer_dir, workspace, config)
    if plan.done:
        log.info("shards %s already built; nothing to do", plan.id)
        return Path(plan.out_dir)
    procs, threads = encoders(workers or os.cpu_count() or 1, len(plan.units))
    _encode_all(plan, procs, threads)
    return assemble_shards(plan)


def encoders(cores: int, units: int) -> tuple[int, int]:
    """(parallel encoders, sentencepiece threads in each) for `cores` and `units`: one encoder per core, and when
    there are fewer units than cores, sentencepiece's own C++ threads fill the cores left over."""
    procs = max(1, min(cores, units))
    return procs, max(1, cores // procs)


def _unit_bytes(unit: Unit) -> int:
    try:
        return pq.ParquetFile(unit.file).metadata.row_group(unit.row_group).total_byte_size
    except (pa.ArrowInvalid, OSError, IndexError):
        return 0  # encode_unit reports it, naming the file


def _encode_all(plan: ShardsPlan, procs: int, threads: int) -> None:
    """Encode every unit with `procs` encoders: this process and procs - 1 pool workers, all taking the next unit
    from one queue. This process starts at once, while the workers are still starting up. Biggest units first, so
    that the last ones to finish are small (parts are assembled in unit order whatever order they were made in)."""
    pending = deque(sorted(plan.units, key=_unit_bytes, reverse=True) if procs > 1 else plan.units)
    lock = threading.Lock()

    def take() -> Unit | None:
        with lock:
            return pending.popleft() if pending else None

    if procs <= 1:
        while (unit := take()) is not None:
            encode_unit(plan, unit, threads)
        return
    futures: list[Future] = []

    def feed(_done: Future | None = None) -> None:
        if _done is not None and _done.exception() is not None:
            return  # a failed unit stops this worker's chain; the error is raised below
        unit = take()
        if unit is None:
            return
        try:
            future = pool.submit(encode_unit, plan, unit, threads)
        except RuntimeError:  # pool broken or shutting down: give the unit back to this process
            with lock:
                pending.appendleft(unit)
            return
        with lock:
            futures.append(future)
        future.add_done_callback(feed)

    with _pool(procs - 1) as pool:
        for _ in range(procs - 1):
            feed()
        while (unit := take()) is not None:
            encode_unit(plan, unit, threads)
        while True:  # wait for the workers' last units (a callback may still be adding one)
            with lock:
                running = [f for f in futures if not f.done()]
            if not running:
                break
            wait(running)
    with lock:
        for future in futures:
            future.result()  # re-raise a worker's error
