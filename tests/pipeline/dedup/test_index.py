"""The persisted index, local folder and Redis: incremental batches, re-runs, incompatible parameters."""

from __future__ import annotations

import multiprocessing
import random
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.dedup import index as index_module
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import find_duplicates
from lmforge.pipeline.dedup.index import LocalIndex, check_index, open_index
from lmforge.pipeline.dedup.signatures import compute_signatures
from lmforge.pipeline.errors import ConfigError, IntegrityError
from tests.support.dedup import doc, edit_words, paragraphs, write_part

EN, ZH = paragraphs("en"), paragraphs("zh")
DAY1 = [doc(f"d1-{k}", " ".join(EN[i : i + 3]), day=1) for k, i in enumerate(range(0, 12, 3))] + [
    doc("d1-zh", ZH[0] + ZH[1], "zh", 1)
]
DAY2 = [
    doc("d2-copy", DAY1[0]["text"].lower(), day=2),
    doc("d2-edit", edit_words(DAY1[1]["text"], 0.01, seed=3), day=2),
    doc("d2-zh", DAY1[4]["text"].replace("老人", "老太太"), "zh", 2),
    doc("d2-new", ZH[2] + ZH[3], "zh", 2),
    doc("d2-new-copy", (ZH[2] + ZH[3]).replace("，", " "), "zh", 2),
]
#: What day 2 holds as duplicates, of day 1's documents (through the index) or of its own.
DAY2_DUPLICATES = {
    "d2-copy": ("d1-0", "exact_duplicate"),
    "d2-edit": ("d1-1", "near_duplicate"),
    "d2-zh": ("d1-zh", "near_duplicate"),
    "d2-new-copy": ("d2-new", "exact_duplicate"),
}


def _sigs(tmp: Path, name: str, docs: list[dict], config: DedupConfig) -> tuple[Path, Path]:
    part = write_part(tmp / name / "part-00000.parquet", docs)
    return part, compute_signatures(part, config, tmp / name / "sigs")


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def spec(request, tmp_path):
    if request.param == "local":
        yield None
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"lmforge-test:{uuid.uuid4().hex[:12]}"
    yield f"{url}?prefix={prefix}"
    from lmforge.pipeline.dedup.redis_index import drop_index

    drop_index(f"{url}?prefix={prefix}")  # whatever parameters the test built it with


def test_new_batch_is_deduplicated_against_earlier_ones(tmp_path, spec):
    config = DedupConfig()
    p1, s1 = _sigs(tmp_path, "day1", DAY1, config)
    p2, s2 = _sigs(tmp_path, "day2", DAY2, config)
    with open_index(spec, tmp_path / "ws", config) as index:
        first = find_duplicates([p1], [s1], config, tmp_path, index)
        assert first.duplicates.num_rows == 0
        assert index.add([s1], {d["doc_id"] for d in DAY1}) == len(DAY1)
        second = find_duplicates([p2], [s2], config, tmp_path, index)
        rows = {r["doc_id"]: (r["duplicate_of"], r["reason"]) for r in second.duplicates.to_pylist()}
        assert rows == DAY2_DUPLICATES
        assert second.stats["index_matches"] == 3
        # Crash after "index updated", before "snapshot published": the re-run must give the same answer.
        index.add([s2], set(DAY2_KEPT := {"d2-new"}))
        assert index.add([s2], DAY2_KEPT) in (0, 1)  # safe to repeat
        again = find_duplicates([p2], [s2], config, tmp_path, index)
        assert again.duplicates.equals(second.duplicates)


def test_index_with_other_parameters_is_refused(tmp_path, spec):
    with open_index(spec, tmp_path / "ws", DedupConfig()):
        pass
    with pytest.raises(ConfigError, match=r"dedup index .*num_perm"):
        open_index(spec, tmp_path / "ws", DedupConfig(num_perm=64))
    with pytest.raises(ConfigError, match=r"dedup index .*threshold"):
        open_index(spec, tmp_path / "ws", DedupConfig(threshold=0.9, margin=0.2))


def test_local_index_ignores_half_written_segments(tmp_path):
    config = DedupConfig()
    p1, s1 = _sigs(tmp_path, "day1", DAY1, config)
    index = LocalIndex(tmp_path / "idx", config)
    (index.segments / ".seg-crashed.tmp").write_bytes(b"PAR1 half a file")
    index.add([s1], None)
    assert index.add([s1], None) == 0
    assert len(index.segment_paths()) == 1
    p2, s2 = _sigs(tmp_path, "day2", DAY2, config)
    assert find_duplicates([p2], [s2], config, tmp_path, index).stats["index_matches"] == 3


def _add(root: str, sig: str) -> None:
    LocalIndex(Path(root), DedupConfig()).add([Path(sig)], None)


def test_local_index_concurrent_writers(tmp_path):
    config = DedupConfig()
    _, s1 = _sigs(tmp_path, "day1", DAY1, config)
    _, s2 = _sigs(tmp_path, "day2", DAY2[3:], config)
    # spawn, not fork: forking a pytest process that already runs Prefect/torch threads can wedge the child
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add, args=(str(tmp_path / "idx"), str(s))) for s in (s1, s2, s1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    index = LocalIndex(tmp_path / "idx", config)
    assert len(index.segment_paths()) == 2
    p3, s3 = _sigs(tmp_path, "day3", DAY2, config)
    rows = find_duplicates([p3], [s3], config, tmp_path, index).duplicates.to_pylist()
    assert {r["doc_id"]: r["duplicate_of"] for r in rows} == {
        "d2-copy": "d1-0",
        "d2-edit": "d1-1",
        "d2-zh": "d1-zh",
        "d2-new-copy": "d2-new",
    }


def test_local_index_unreadable_segment_is_a_clear_error(tmp_path):
    """A segment cut short (a disk that filled up, a crash before its bytes reached the disk) must stop the run with
    an error that names it and says what to do, not a bare pyarrow traceback."""
    config = DedupConfig()
    p1, s1 = _sigs(tmp_path, "day1", DAY1, config)
    index = LocalIndex(tmp_path / "idx", config)
    index.add([s1], None)
    (segment,) = index.segment_paths()
    segment.write_bytes(segment.read_bytes()[:100])
    p2, s2 = _sigs(tmp_path, "day2", DAY2, config)
    with pytest.raises(IntegrityError, match=rf"{segment.name}.*unreadable.*move it out"):
        find_duplicates([p2], [s2], config, tmp_path, index)


def test_adding_a_batch_holds_one_signatures_file_at_a_time(tmp_path, spec, monkeypatch):
    """A batch of millions of documents is published file by file: memory must not grow with the batch (reading
    every file into one table first cost ~1 KB per document, more than the search itself)."""
    config = DedupConfig()
    words = " ".join(EN).split()
    rng = random.Random(0)
    docs = [doc(f"m-{i:05d}", " ".join(rng.choices(words, k=40))) for i in range(3000)]
    _, sig = _sigs(tmp_path, "big", docs, config)
    files = []
    for k in range(6):  # six files of one batch (their doc_ids repeat: harmless to the index)
        files.append(tmp_path / f"sig-{k}.sig.parquet")
        shutil.copy(sig, files[-1])
    held = []
    real = index_module.check_signatures
    monkeypatch.setattr(
        index_module, "check_signatures", lambda *a: held.append(pa.total_allocated_bytes()) or real(*a)
    )
    with open_index(spec, tmp_path / "ws", config) as index:
        index.add(files, None)
    one_file = pq.read_table(sig).nbytes
    assert len(held) == 6 and held[-1] - held[1] < 2 * one_file  # reading all six first held 4 more files by then


@pytest.mark.parametrize("lookup_rows", [1, 2, 1 << 18])
def test_a_batch_of_many_files_asks_the_index_once_per_group_not_once_per_file(
    tmp_path, spec, monkeypatch, lookup_rows
):
    """Each lookup reads the whole index (every segment of a local one): asking once per input file made a daily
    batch of F files read a year of segments F times. However the representatives are grouped, the answer is the
    same."""
    from lmforge.pipeline.dedup import find

    config = DedupConfig()
    p1, s1 = _sigs(tmp_path, "day1", DAY1, config)
    day2 = [_sigs(tmp_path, f"day2-{i}", [d], config) for i, d in enumerate(DAY2)]  # one file per document
    monkeypatch.setattr(find, "LOOKUP_ROWS", lookup_rows)
    with open_index(spec, tmp_path / "ws", config) as index:
        index.add([s1], {d["doc_id"] for d in DAY1})
        calls = []
        real = type(index).lookup
        monkeypatch.setattr(type(index), "lookup", lambda self, *a: calls.append(len(a[0])) or real(self, *a))
        result = find_duplicates([p for p, _ in day2], [s for _, s in day2], config, tmp_path, index)
    rows = {r["doc_id"]: (r["duplicate_of"], r["reason"]) for r in result.duplicates.to_pylist()}
    assert rows == DAY2_DUPLICATES
    representatives = len(DAY2) - 1  # d2-new-copy is an exact copy within the batch: not asked about
    assert sum(calls) == representatives
    assert len(calls) == -(-representatives // lookup_rows)


def test_a_refused_index_says_what_it_was_built_with(tmp_path, spec):
    """ "Use the parameters it was built with" is only advice a user can follow if the message says which they were:
    here the index was built at threshold 0.8 and this run asks for 0.9."""
    with open_index(spec, tmp_path / "ws", DedupConfig()):
        pass
    with pytest.raises(ConfigError) as refused:
        open_index(spec, tmp_path / "ws", DedupConfig(threshold=0.9, margin=0.2))
    message = str(refused.value)
    assert "\n" not in message
    assert "threshold: index 0.8, this run 0.9" in message
    assert "margin: index 0.1, this run 0.2" in message


def test_with_explicit_bands_the_threshold_may_change(tmp_path, spec):
    """With bands and rows given, the threshold and margin only steer verification, which reads the stored
    signatures as they are: an index built at 0.8 serves a run at 0.9 with the same bands (it was refused as built
    with other parameters). Bands that differ are still refused, naming them."""
    built = DedupConfig(bands=16, rows=8)
    _, s1 = _sigs(tmp_path, "day1", DAY1, built)
    with open_index(spec, tmp_path / "ws", built) as index:
        index.add([s1], None)
    stricter = DedupConfig(threshold=0.9, margin=0.05, bands=16, rows=8)
    p2, s2 = _sigs(tmp_path, "day2", DAY2, stricter)
    with open_index(spec, tmp_path / "ws", stricter) as index:
        rows = find_duplicates([p2], [s2], stricter, tmp_path, index).duplicates.to_pylist()
    assert {r["doc_id"]: r["duplicate_of"] for r in rows if r["reason"] == "exact_duplicate"} == {
        "d2-copy": "d1-0",
        "d2-new-copy": "d2-new",
    }
    with pytest.raises(ConfigError, match=r"signatures\.bands: index 16, this run 32") as refused:
        open_index(spec, tmp_path / "ws", DedupConfig(threshold=0.9, bands=32, rows=4))
    assert "threshold" not in str(refused.value)  # not what is wrong


def test_an_index_with_other_parameters_is_refused_before_any_work(tmp_path, spec):
    """`open_index` refused it only at the snapshot step, after every file was curated: `check_index` refuses it up
    front with the same message, and writes nothing (a new index is created only when there is something to add)."""
    with open_index(spec, tmp_path / "ws", DedupConfig()):
        pass
    other = DedupConfig(num_perm=64)
    with pytest.raises(ConfigError) as at_snapshot:
        open_index(spec, tmp_path / "ws", other)
    with pytest.raises(ConfigError) as up_front:
        check_index(spec, tmp_path / "ws", other)
    assert str(up_front.value) == str(at_snapshot.value)
    check_index(spec, tmp_path / "ws", DedupConfig())
    if spec is None:
        check_index(None, tmp_path / "fresh", other)
        assert not (tmp_path / "fresh").exists()


def test_local_segments_without_meta_json_are_refused(tmp_path):
    """A deleted meta.json made the next run write its own with other parameters beside segments of unknown ones:
    refused, saying how to recover."""
    _, s1 = _sigs(tmp_path, "day1", DAY1, DedupConfig(num_perm=64))
    LocalIndex(tmp_path / "idx", DedupConfig(num_perm=64)).add([s1], None)
    (tmp_path / "idx" / "meta.json").unlink()
    for create in (True, False):
        with pytest.raises(ConfigError, match=r"holds 1 segment\(s\) but no meta\.json.*move the folder away"):
            LocalIndex(tmp_path / "idx", DedupConfig(), create=create)
    assert not (tmp_path / "idx" / "meta.json").exists()


def test_serial_curation_refuses_an_incompatible_index_before_the_first_file(tmp_path):
    """An index made with other parameters was refused only at the snapshot step, after every file was curated."""
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.curate.snapshot import curate

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):  # three paragraphs a file: long enough for the quality filters
        (folder / f"{i}.txt").write_text(" ".join(EN[3 * i : 3 * i + 3]), encoding="utf-8")
    LocalIndex(tmp_path / "ws" / "dedup-index", DedupConfig(num_perm=64))
    curated = []
    with pytest.raises(ConfigError, match=r"dedup index .*num_perm"):
        curate([str(folder)], tmp_path / "ws", load_config(), on_unit=curated.append)
    assert curated == []


def test_a_cut_signatures_file_is_a_clear_error(tmp_path, spec):
    """A signatures file cut short (a full disk; a crash before its bytes reached the disk, and a re-run that only
    adds a published snapshot to the index reads it again) stopped the run with a bare pyarrow traceback."""
    config = DedupConfig()
    p1, s1 = _sigs(tmp_path, "day1", DAY1, config)
    s1.write_bytes(s1.read_bytes()[:200])
    with open_index(spec, tmp_path / "ws", config) as index:
        with pytest.raises(IntegrityError, match=rf"{s1.name}: signatures file is unreadable.*delete it"):
            index.add([s1], None)
        with pytest.raises(IntegrityError, match=rf"{s1.name}: signatures file is unreadable"):
            find_duplicates([p1], [s1], config, tmp_path, index)
