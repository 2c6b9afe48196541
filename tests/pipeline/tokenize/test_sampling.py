from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.config import load_config
from lmforge.pipeline.curate.snapshot import curate
from lmforge.pipeline.errors import InputError, IntegrityError
from lmforge.pipeline.tokenize.sampling import (
    choose_sample,
    iter_texts,
    sentences,
    snapshot_files,
    stable_unit,
    stable_units,
)
from tests.pipeline.tokenize.conftest import corpus_docs
from tests.support.snapshots import make_snapshot


@given(st.text(min_size=1), st.text(max_size=20))
def test_stable_unit_is_a_fixed_number_in_unit_interval(doc_id, salt):
    u = stable_unit(doc_id, salt)
    assert 0.0 <= u < 1.0
    assert u == stable_unit(doc_id, salt)


def test_salts_give_independent_hashes():
    ids = [f"doc-{i}" for i in range(1000)]
    a = {d for d in ids if stable_unit(d, "sample0") < 0.5}
    b = {d for d in ids if stable_unit(d, "split0") < 0.5}
    assert 200 < len(a & b) < 300  # independent halves overlap in about a quarter


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300), max_size=5),
    st.integers(16, 64),
)
def test_sentences_are_nonblank_lines_cut_to_length(texts, max_chars):
    out = list(sentences(texts, max_chars))
    assert all(s.strip() and "\n" not in s and len(s) <= max_chars for s in out)
    expected = "".join(line for t in texts for line in t.split("\n") if line.strip())
    assert "".join(out) == expected


def test_sample_is_deterministic_disjoint_and_layout_independent(tmp_path):
    docs = corpus_docs()
    one = make_snapshot(tmp_path / "a", docs, files=1)
    three = make_snapshot(tmp_path / "b", docs, files=3, row_group_size=10)
    kw = {"sample_chars": 50_000, "heldout_fraction": 0.05, "report_chars": 20_000, "seed": 0}
    s1, s3 = choose_sample(one, **kw), choose_sample(three, **kw)
    assert s1 == s3
    assert not s1.train_ids & s1.heldout_ids
    assert 50_000 <= s1.train_chars < 50_000 + max(len(d["text"]) for d in docs)
    assert choose_sample(one, **{**kw, "seed": 1}).train_ids != s1.train_ids


def test_two_documents_still_hold_one_out(tmp_path):
    snap = make_snapshot(tmp_path, [{"doc_id": "a", "text": "x" * 100}, {"doc_id": "b", "text": "y" * 100}])
    sample = choose_sample(snap, sample_chars=10**6, heldout_fraction=0.001, report_chars=10**6, seed=0)
    assert len(sample.heldout_ids) == 1 and len(sample.train_ids) == 1


@given(st.lists(st.text(max_size=20), max_size=30), st.text(max_size=20))
def test_stable_units_equal_stable_unit_one_by_one(ids, salt):
    assert stable_units(ids, salt).tolist() == [stable_unit(d, salt) for d in ids]


def test_a_snapshot_that_kept_nothing_says_why_instead_of_asking_for_a_rerun(tmp_path):
    """Every document rejected (too short for the filters): re-running curate gives the same empty snapshot, so the
    error names the reasons and the fix instead."""
    src = tmp_path / "tiny.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"word {i}"}) + "\n" for i in range(3)))
    snap = curate([str(src)], tmp_path / "ws", load_config(overrides={"dedup": {"enabled": False}}))
    with pytest.raises(InputError, match=r"kept none of its 3 documents \(.*3.*\).*curate\.filters.*rejects/"):
        snapshot_files(snap)


def test_a_snapshot_that_read_no_documents_names_the_file_problems_not_the_filters(tmp_path):
    """A Parquet input whose text column has another name: no document was read, so loosening the filters cannot
    help; the error names what was wrong with the inputs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "body.parquet"
    pq.write_table(pa.table({"id": ["a"], "body": ["A document under a column the config does not name."]}), src)
    snap = curate([str(src)], tmp_path / "ws", load_config(overrides={"dedup": {"enabled": False}}))
    with pytest.raises(
        InputError, match=r"read no documents from its inputs \(missing_text_column 1\).*curate\.fields"
    ):
        snapshot_files(snap)


def copy_of(snapshot: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "snapshots" / snapshot.name
    shutil.copytree(snapshot, copy)
    return copy


SAMPLE = {"sample_chars": 50_000, "heldout_fraction": 0.05, "report_chars": 20_000, "seed": 0}


def test_a_snapshot_missing_one_of_its_data_files_is_refused_not_read_in_part(tmp_path, snapshot):
    """A half-copied snapshot folder must not give a tokenizer (or shards) of half the documents under the full
    snapshot's id."""
    copy = copy_of(snapshot, tmp_path)
    (copy / "data" / "part-00001.parquet").unlink()
    with pytest.raises(IntegrityError, match=r"part-00001\.parquet: missing.*curate"):
        snapshot_files(copy)
    with pytest.raises(IntegrityError, match=r"part-00001\.parquet: missing"):
        choose_sample(copy, **SAMPLE)


def test_a_snapshot_data_file_cut_short_is_refused_naming_it(tmp_path, snapshot):
    copy = copy_of(snapshot, tmp_path)
    part = copy / "data" / "part-00000.parquet"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    with pytest.raises(IntegrityError, match=r"part-00000\.parquet: \d+ bytes, the snapshot manifest says \d+"):
        choose_sample(copy, **SAMPLE)


def test_a_damaged_snapshot_data_file_is_an_input_error_naming_it(tmp_path, snapshot):
    """Same size, other bytes (a bad disk block): reading it fails with the file's name, not pyarrow's traceback."""
    copy = copy_of(snapshot, tmp_path)
    part = copy / "data" / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data[4 : len(data) // 2] = bytes(len(data) // 2 - 4)
    part.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"part-00000\.parquet: .*is the snapshot intact"):
        choose_sample(copy, **SAMPLE)
    with pytest.raises(InputError, match=r"part-00000\.parquet: .*is the snapshot intact"):
        list(iter_texts(snapshot_files(copy)))


def test_a_stray_file_in_data_is_not_part_of_the_snapshot(tmp_path, snapshot):
    """Only the files the manifest lists are the snapshot: a Parquet file dropped into data/ later (another
    snapshot's part, a rejects file) is not read."""
    copy = copy_of(snapshot, tmp_path)
    shutil.copy(copy / "data" / "part-00000.parquet", copy / "data" / "part-00002.parquet")
    assert [p.name for p in snapshot_files(copy)] == ["part-00000.parquet", "part-00001.parquet"]
    assert choose_sample(copy, **SAMPLE) == choose_sample(snapshot, **SAMPLE)


def test_another_stage_folder_given_as_the_snapshot_is_named_as_such(snapshot, tokenizer):
    """`--snapshot workspace/tokenizers/<id>` (any finished folder resolves): say what it is, not "re-run curate"."""
    with pytest.raises(IntegrityError, match=r"manifest format 'lmforge\.tokenizer' is not 'lmforge\.snapshot'"):
        snapshot_files(tokenizer)


def test_long_seeds_are_not_cut_off_into_the_same_salt():
    # blake2b's `person` holds 16 bytes: "heldout" + a 10-digit seed, or "split" + 12 digits, used to be cut to the
    # same 16 bytes, so seeds 1000000000 and 1000000001 chose the very same held-out set (and train/val split).
    ids = [f"doc-{i}" for i in range(200)]
    for prefix in ("heldout", "sample", "split"):
        a, b = f"{prefix}100000000000000", f"{prefix}100000000000001"
        assert stable_units(ids, a).tolist() != stable_units(ids, b).tolist()
        assert stable_unit(ids[0], a) == stable_units(ids[:1], a)[0]
    # salts of up to 16 bytes keep their hashes, so existing samples and splits stay as they were
    assert (stable_unit("doc-0", "split0"), stable_unit("doc-0", "heldout123")) == (
        0.8667853659404818,
        0.39336958041838,
    )
