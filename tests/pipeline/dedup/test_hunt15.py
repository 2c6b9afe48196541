"""Defects of the dedup index and shingling: a re-added doc_id's old entry still matching (local index) and its old
keys left in Redis, CJK text tagged with a space-delimited language getting no shingles, a recipe change taken for
a compatible index."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from lmforge.pipeline.dedup import shingles
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import find_duplicates
from lmforge.pipeline.dedup.index import LocalIndex, index_meta
from lmforge.pipeline.dedup.signatures import RECIPE, compute_signatures
from lmforge.pipeline.errors import ConfigError, IntegrityError
from tests.support.dedup import doc, edit_words, paragraphs, write_part

EN = paragraphs("en")
ZH = paragraphs("zh")
CONFIG = DedupConfig()


def _signatures(tmp: Path, name: str, docs: list[dict]) -> tuple[Path, Path]:
    part = write_part(tmp / name / "part-00000.parquet", docs)
    return part, compute_signatures(part, CONFIG, tmp / name / "sigs")


def _versions(tmp: Path) -> tuple[Path, Path, tuple[Path, Path]]:
    """`d1` indexed with text A, then re-curated with text B under the same id; a later batch holds a copy of A."""
    a, b = " ".join(EN[0:3]), " ".join(EN[5:8])
    _, v1 = _signatures(tmp, "v1", [doc("d1", a)])
    _, v2 = _signatures(tmp, "v2", [doc("d1", b)])
    return v1, v2, _signatures(tmp, "later", [doc("n1", a.upper()), doc("n2", " ".join(EN[9:12]))])


def test_local_index_matches_only_the_latest_entry_of_a_readded_id(tmp_path):
    """A document re-curated with edited text is added again under its id, in a new segment; the old segment still
    held its old digest and bands, so a later copy of the old text was removed as an exact duplicate of `d1`, whose
    text no longer is that (a false duplicate: the copy's text is nowhere in the published snapshots)."""
    v1, v2, (part, sig) = _versions(tmp_path)
    index = LocalIndex(tmp_path / "idx", CONFIG)
    index.add([v1], None)
    index.add([v2], None)
    found = find_duplicates([part], [sig], CONFIG, tmp_path / "work", index)
    assert found.duplicates.num_rows == 0 and found.stats["index_candidates"] == 0
    # the latest entry still matches: a copy of B is a duplicate of d1
    part_b, sig_b = _signatures(tmp_path, "copy-of-b", [doc("n3", " ".join(EN[5:8]).lower())])
    again = find_duplicates([part_b], [sig_b], CONFIG, tmp_path / "work2", index)
    assert again.duplicates.to_pylist() == [
        {"doc_id": "n3", "duplicate_of": "d1", "similarity": 1.0, "reason": "exact_duplicate"}
    ]


@pytest.fixture
def spec(redis_url):
    from lmforge.pipeline.dedup.redis_index import drop_index

    spec = f"{redis_url}?prefix=lmforge-test-hunt15:{uuid.uuid4().hex[:12]}"
    yield spec
    drop_index(spec)


@pytest.mark.redis
def test_redis_readd_takes_the_id_out_of_its_old_buckets(tmp_path, spec):
    """Re-adding a doc_id with another signature overwrote its entry but left it in the digest set and LSH buckets
    of the old text: every later copy of the old text became an index candidate of it (and the keys of every edit
    ever made stayed in Redis)."""
    from lmforge.pipeline.dedup.redis_index import RedisIndex

    v1, v2, (part, sig) = _versions(tmp_path)
    with RedisIndex(spec, CONFIG) as index:
        index.add([v1], None)
        index.add([v2], None)
        index.add([v2], None)  # the same signature again: nothing to take out, nothing lost
        members = [
            key
            for kind in ("b", "x")
            for key in index.client.scan_iter(match=f"{index.prefix}:{kind}:*")
            if b"d1" in index.client.smembers(key)
        ]
        bands = index.config.num_perm // 5  # 25 bands of 5 rows at the default threshold
        assert len(members) == bands + 1  # the new text's buckets and digest only
        found = find_duplicates([part], [sig], CONFIG, tmp_path / "work", index)
        assert found.duplicates.num_rows == 0 and found.stats["index_candidates"] == 0


def test_cjk_text_tagged_en_is_shingled_by_characters(tmp_path):
    """Chinese lines hold no spaces: tagged `en` (a source's own tag, or `lmforge dedup` on external Parquet), each
    was one "word", so it had no 5-word shingles and an edited copy was never found (exact dedup only)."""
    original = "".join(ZH[0:3])
    edited = original.replace("老人", "老奶奶").replace("历史", "往事")
    docs = [doc("zh-a", original, lang="en"), doc("zh-b", edited, lang="en", day=2), doc("zh-c", "".join(ZH[4:7]))]
    part, sig = _signatures(tmp_path, "batch", docs)
    found = find_duplicates([part], [sig], CONFIG, tmp_path / "work", None)
    assert found.stats["no_shingles"] == 0
    assert [(r["doc_id"], r["duplicate_of"], r["reason"]) for r in found.duplicates.to_pylist()] == [
        ("zh-b", "zh-a", "near_duplicate")
    ]


def test_script_decides_only_for_texts_mostly_in_unspaced_scripts():
    assert shingles.unspaced_script("清晨的集市，总是很热闹。") and shingles.unspaced_script("สวัสดีครับ วันนี้อากาศดี")
    assert shingles.unspaced_script("むかしむかし、あるところに")
    assert not shingles.unspaced_script("대한민국은 민주공화국이다")  # Korean spaces its words
    assert not shingles.unspaced_script("An English text quoting 你好 once.")
    assert not shingles.unspaced_script("Ünïcödé wörds") and not shingles.unspaced_script("123 ，。")


def test_an_index_made_with_the_old_shingle_recipe_is_refused(tmp_path):
    """The shingles of a CJK text tagged `en` changed: an index whose metadata predates the change holds such texts'
    signatures made the other way, so it must be refused, saying why, not mixed in."""
    root = tmp_path / "idx"
    (root / "segments").mkdir(parents=True)
    old = index_meta(CONFIG)
    del old["signatures"]["shingle_units"]
    (root / "meta.json").write_text(json.dumps(old))
    with pytest.raises(ConfigError) as err:
        LocalIndex(root, CONFIG)
    assert "signatures.shingle_units: index (none)" in str(err.value)
    assert "another version of lmforge's hashing" in str(err.value)
    assert "shingle_units" in RECIPE


@pytest.mark.redis
@pytest.mark.parametrize("damage", ["field", "signature"])
def test_a_damaged_redis_entry_is_an_integrity_error_naming_its_key(tmp_path, spec, damage):
    """An entry changed by hand (a field deleted, a signature cut short): a lookup reaching it failed with a bare
    KeyError, or compared signatures of two lengths (a numpy error), with no hint of which key was bad."""
    from lmforge.pipeline.dedup.redis_index import RedisIndex

    v1, _, (part, sig) = _versions(tmp_path)
    with RedisIndex(spec, CONFIG) as index:
        index.add([v1], None)
        key = f"{index.prefix}:e:d1"
        if damage == "field":
            index.client.hdel(key, "n_chars")
        else:
            index.client.hset(key, "sig", b"\x00" * 12)
        with pytest.raises(IntegrityError, match=f"entry {key} is damaged"):
            find_duplicates([part], [sig], CONFIG, tmp_path / "work", index)


@pytest.mark.parametrize("backend", ["local", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_batch_that_replaces_an_indexed_text_still_finds_copies_of_it(tmp_path, backend, request):
    """`d1` is indexed with text A; a batch re-curates `d1` with text B and also holds copies of A under other ids.
    Every index entry whose id the batch holds was ignored (meant for a re-run, whose own documents are in the
    index), so the old text was hidden from the batch's lookups and its copies were kept, although A's snapshot
    stays published. Only `d1` itself is never its own duplicate."""
    a, b = " ".join(EN[0:3]), " ".join(EN[5:8])
    _, v1 = _signatures(tmp_path, "v1", [doc("d1", a)])
    batch = [doc("d1", b, day=2), doc("n1", a.upper(), day=2), doc("n2", edit_words(a, 0.01, 1), day=2)]
    part, sig = _signatures(tmp_path, "batch", batch)
    # the new text is itself an edit of the old: linked to it through a copy, it is still kept
    edited = [doc("d1", edit_words(a, 0.01, 2), day=2), doc("n3", a.lower(), day=2)]
    part_e, sig_e = _signatures(tmp_path, "edited", edited)
    if backend == "redis":
        from lmforge.pipeline.dedup.redis_index import RedisIndex

        index = RedisIndex(request.getfixturevalue("spec"), CONFIG)
    else:
        index = LocalIndex(tmp_path / "idx", CONFIG)
    with index:
        index.add([v1], None)
        found = find_duplicates([part], [sig], CONFIG, tmp_path / "work", index)
        rows = [(r["doc_id"], r["duplicate_of"], r["reason"]) for r in found.duplicates.to_pylist()]
        assert rows == [("n1", "d1", "exact_duplicate"), ("n2", "d1", "near_duplicate")]
        assert found.stats["index_matches"] == 2
        found = find_duplicates([part_e], [sig_e], CONFIG, tmp_path / "work-e", index)
        assert [(r["doc_id"], r["duplicate_of"]) for r in found.duplicates.to_pylist()] == [("n3", "d1")]
        # a re-run of a batch whose documents the index holds already still ignores their own entries
        index.add([sig], {"d1"})
        again = find_duplicates([part], [sig], CONFIG, tmp_path / "work2", index)
        assert "d1" not in again.duplicates.column("doc_id").to_pylist() and again.stats["index_matches"] == 0
