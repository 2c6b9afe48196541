from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.errors import InputError, IntegrityError
from lmforge.pipeline.stage import verify_files
from lmforge.pipeline.tokenize import shards as shards_mod
from lmforge.pipeline.tokenize.config import BOS_ID, EOS_ID, ShardsConfig
from lmforge.pipeline.tokenize.shards import (
    Unit,
    _with_specials,
    assemble_shards,
    build_shards,
    encode_unit,
    is_val,
    plan_shards,
    val_flags,
)
from lmforge.pipeline.tokenize.trainer import load_tokenizer
from lmforge.schemas.manifest import Manifest
from lmforge.schemas.shards import DOCS_SCHEMA, docs_path, open_tokens, read_header
from tests.pipeline.tokenize.conftest import corpus_docs
from tests.support.snapshots import make_snapshot

SMALL_SHARDS = ShardsConfig(shard_tokens=20_000, val_fraction=0.1)


@pytest.fixture(scope="module")
def shards(workspace, snapshot, tokenizer) -> Path:
    return build_shards(snapshot, tokenizer, workspace, SMALL_SHARDS, workers=1)


def decoded_docs(folder: Path, split: str, tokenizer: Path) -> list[tuple[str, str]]:
    """(text, lang) of every document in a split, read back through the shards and their doc index."""
    sp = load_tokenizer(tokenizer)
    out = []
    for shard in sorted(folder.glob(f"{split}-*.bin")):
        tokens = open_tokens(shard)
        index = pq.read_table(docs_path(shard))
        assert index.schema.equals(DOCS_SCHEMA)
        for offset, n, n_bytes, lang in zip(*(index.column(c).to_pylist() for c in DOCS_SCHEMA.names), strict=True):
            ids = tokens[offset : offset + n].tolist()
            assert ids[-1] == EOS_ID and EOS_ID not in ids[:-1]
            text = sp.decode(ids[:-1])
            assert len(text.encode("utf-8")) == n_bytes
            out.append((text, lang))
    return out


def test_shards_hold_every_document_once_split_by_stable_hash(shards, tokenizer):
    docs = corpus_docs()
    val = decoded_docs(shards, "val", tokenizer)
    train = decoded_docs(shards, "train", tokenizer)
    assert sorted(t for t, _ in train + val) == sorted(d["text"] for d in docs)  # disjoint, complete, exact
    val_texts = sorted(d["text"] for d in docs if is_val(d["doc_id"], SMALL_SHARDS))
    assert sorted(t for t, _ in val) == val_texts and val_texts
    assert {lang for _, lang in train + val} == {"en", "de", "zh"}


def test_headers_manifest_and_sizes(shards, tokenizer):
    m = Manifest.read(shards)
    assert m.format == "lmforge.shards"
    assert m.inputs["tokenizer"] == tokenizer.name and m.inputs["tokenizer_sha256"] == sha256_file(
        tokenizer / "tokenizer.model"
    )
    assert verify_files(shards) == []
    entries = {f.path: f for f in m.files}
    bins = sorted(shards.glob("*.bin"))
    assert len(list(shards.glob("train-*.bin"))) > 1  # 20 K-token shards: the corpus spans several
    for shard in bins:
        header = read_header(shard, expect_tokenizer=m.inputs["tokenizer_sha256"])
        assert header.itemsize == 2
        assert entries[shard.name].tokens == header.token_count
        assert entries[docs_path(shard).name].rows == header.doc_count == pq.read_metadata(docs_path(shard)).num_rows
        assert open_tokens(shard)[-1] == EOS_ID
    for split, s in m.stats["splits"].items():
        files = list(shards.glob(f"{split}-*.bin"))
        assert s["shards"] == len(files)
        assert s["tokens"] == sum(read_header(f).token_count for f in files)
        assert s["docs"] == sum(read_header(f).doc_count for f in files)
        assert s["bytes"] == sum(pq.read_table(docs_path(f)).column("n_bytes").to_numpy().sum() for f in files)
        assert s["tokens"] == sum(v[split]["tokens"] for v in m.stats["languages"].values())
    # shards are cut at the first document boundary past shard_tokens
    train = sorted(shards.glob("train-*.bin"))
    assert all(read_header(f).token_count >= SMALL_SHARDS.shard_tokens for f in train[:-1])


def test_rebuild_and_worker_count_give_identical_files(tmp_path, workspace, snapshot, tokenizer, shards):
    again = build_shards(snapshot, tokenizer, tmp_path / "one", SMALL_SHARDS, workers=1)
    parallel = build_shards(snapshot, tokenizer, tmp_path / "two", SMALL_SHARDS, workers=2)
    assert again.name == parallel.name == shards.name
    names = sorted(p.name for p in shards.iterdir() if p.name != "manifest.json")
    for other in (again, parallel):
        assert sorted(p.name for p in other.iterdir() if p.name != "manifest.json") == names
        for name in names:
            assert (other / name).read_bytes() == (shards / name).read_bytes(), name
    assert build_shards(snapshot, tokenizer, workspace, SMALL_SHARDS) == shards  # done: no-op
    assert not list(shards.parent.glob(".parts-*"))


def test_bos_is_optional(tmp_path, snapshot, tokenizer):
    out = build_shards(snapshot, tokenizer, tmp_path, dataclasses.replace(SMALL_SHARDS, add_bos=True), workers=1)
    shard = sorted(out.glob("train-*.bin"))[0]
    tokens, index = open_tokens(shard), pq.read_table(docs_path(shard))
    for offset, n in zip(index.column("offset").to_pylist(), index.column("n_tokens").to_pylist(), strict=True):
        assert tokens[offset] == BOS_ID and tokens[offset + n - 1] == EOS_ID


def test_large_vocab_writes_uint32(tmp_path, snapshot, tokenizer):
    plan = dataclasses.replace(plan_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS), vocab_size=70_000)
    for unit in plan.units:
        encode_unit(plan, unit)
    out = assemble_shards(plan)
    shard = sorted(out.glob("train-*.bin"))[0]
    assert read_header(shard).itemsize == 4 and open_tokens(shard).dtype == np.uint32
    small = build_shards(snapshot, tokenizer, tmp_path / "u16", SMALL_SHARDS, workers=1)
    np.testing.assert_array_equal(open_tokens(shard), open_tokens(small / shard.name))


@pytest.mark.parametrize("procs", [1, 2])
def test_an_unreadable_unit_fails_the_build_with_its_file_and_keeps_the_others(tmp_path, snapshot, tokenizer, procs):
    plan = plan_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    bad = dataclasses.replace(plan, units=(*plan.units, Unit(str(broken), 0, "99999-00000")))
    with pytest.raises(InputError, match="broken.parquet: cannot read row group 0"):
        shards_mod._encode_all(bad, procs, 1)
    assert all(shards_mod.part_path(plan, u).is_file() for u in plan.units)  # finished units are kept for a resume


def test_val_gets_one_document_when_the_fraction_rounds_to_none(tmp_path, tokenizer):
    docs = [{"doc_id": f"d{i}", "text": t["text"]} for i, t in enumerate(corpus_docs()[:3])]
    snap = make_snapshot(tmp_path, docs)
    out = build_shards(snap, tokenizer, tmp_path, ShardsConfig(val_fraction=1e-9), workers=1)
    splits = Manifest.read(out).stats["splits"]
    assert (splits["train"]["docs"], splits["val"]["docs"]) == (2, 1)


def test_resume_reuses_finished_parts(tmp_path, snapshot, tokenizer, shards):
    plan = plan_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS)
    first = plan.units[0]
    encode_unit(plan, first)
    part = Path(plan.parts_dir) / f"{first.name}.arrow"
    stamp = part.stat().st_mtime_ns
    encode_unit(plan, first)  # a finished unit is not encoded again
    assert part.stat().st_mtime_ns == stamp
    out = build_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS, workers=1)
    assert not part.exists()  # parts are removed once the shards are assembled
    assert [f.sha256 for f in Manifest.read(out).files] == [f.sha256 for f in Manifest.read(shards).files]


def test_a_changed_tokenizer_model_is_refused_not_recorded_under_its_old_digest(tmp_path, snapshot, tokenizer):
    # One flipped bit in a piece score still parses but encodes differently; the shard headers would carry the
    # manifest's digest of the model as trained, not of the one that encoded them.
    copy = tmp_path / "tokenizers" / tokenizer.name
    shutil.copytree(tokenizer, copy)
    model = copy / "tokenizer.model"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="tokenizer.model: sha256 differs"):
        build_shards(snapshot, copy, tmp_path, SMALL_SHARDS, workers=1)
    assert not list((tmp_path / "shards").glob("*/manifest.json"))


def test_a_snapshot_with_a_missing_or_damaged_data_file_builds_nothing(tmp_path, snapshot, tokenizer):
    copy = tmp_path / "snapshots" / snapshot.name
    shutil.copytree(snapshot, copy)
    part = copy / "data" / "part-00001.parquet"
    data = part.read_bytes()
    part.write_bytes(data[:-4] + b"XXXX")  # same size, footer magic gone
    with pytest.raises(InputError, match=r"part-00001\.parquet: cannot read it .*is the snapshot intact"):
        build_shards(copy, tokenizer, tmp_path, SMALL_SHARDS, workers=1)
    part.unlink()
    with pytest.raises(IntegrityError, match=r"part-00001\.parquet: missing"):
        build_shards(copy, tokenizer, tmp_path, SMALL_SHARDS, workers=1)
    assert not list((tmp_path / "shards").glob("*/manifest.json"))


def test_empty_snapshot(tmp_path, tokenizer):
    with pytest.raises(InputError, match="no documents"):
        build_shards(make_snapshot(tmp_path, []), tokenizer, tmp_path, SMALL_SHARDS)


@given(st.lists(st.lists(st.integers(4, 600), max_size=6), max_size=8), st.booleans())
def test_specials_wrap_every_document(docs, bos):
    flat, lengths = _with_specials(docs, np.dtype(np.uint16), bos)
    expected = [t for d in docs for t in ([BOS_ID] if bos else []) + d + [EOS_ID]]
    assert flat.tolist() == expected
    assert lengths.tolist() == [len(d) + (2 if bos else 1) for d in docs]


def test_parts_cut_short_by_a_crash_are_encoded_again(tmp_path, snapshot, tokenizer, shards, caplog):
    # A machine crash before a part's bytes reached the disk leaves it empty, cut short or zero-filled; a re-run
    # encodes those units again instead of stopping at them, and the shards are those of an uninterrupted build.
    plan = plan_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS)
    shards_mod._encode_all(plan, 1, 1)
    empty, short, zeroed = (shards_mod.part_path(plan, u) for u in plan.units[:3])
    empty.write_bytes(b"")
    short.write_bytes(short.read_bytes()[: short.stat().st_size // 2])
    zeroed.write_bytes(b"\0" * zeroed.stat().st_size)
    with caplog.at_level("WARNING", logger=shards_mod.__name__):
        out = build_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS, workers=1)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert all(f"{p} is unreadable" in warned for p in (empty, short, zeroed)), warned
    names = sorted(p.name for p in shards.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        if name != "manifest.json":
            assert (out / name).read_bytes() == (shards / name).read_bytes(), name
    assert not Path(plan.parts_dir).exists()


def test_a_parts_folder_left_by_a_kill_after_the_rename_is_removed(tmp_path, snapshot, tokenizer):
    # Killed between renaming the finished shards into place and deleting the parts: the next run finds the stage
    # done and removes the stale parts; the shards themselves are untouched.
    out = build_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS, workers=1)
    plan = plan_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS)
    stale = Path(plan.parts_dir)
    stale.mkdir()
    (stale / "00000-00000.arrow").write_bytes(b"ARROW1 left behind")
    (stale / ".00000-00001.arrow.123.tmp").write_bytes(b"half")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert build_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS, workers=1) == out
    assert not stale.exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    other = tmp_path / "shards" / ".parts-someotherid"  # parts of a stage still being built are not touched
    other.mkdir()
    build_shards(snapshot, tokenizer, tmp_path, SMALL_SHARDS, workers=1)
    assert other.is_dir()


def test_long_split_seeds_give_different_splits():
    # "split" + a 12-digit seed was cut to the same 16-byte blake2b salt: two seeds, one and the same train/val split
    ids = [f"doc-{i}" for i in range(200)]
    a, b = (ShardsConfig(val_fraction=0.5, seed=s) for s in (10**12, 10**12 + 1))
    assert val_flags(ids, a).tolist() != val_flags(ids, b).tolist()
