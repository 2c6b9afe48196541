"""Defects found by planting duplicates in real text: a re-run's own documents counted as index matches, and the
edits of one original lost in band groups too large to pair completely."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmforge.pipeline.dedup import find, minhash, shingles
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import find_duplicates
from lmforge.pipeline.dedup.index import LocalIndex
from lmforge.pipeline.dedup.signatures import batch_hashes, compute_signatures
from tests.support.dedup import doc, edit_words, paragraphs, write_part

EN = paragraphs("en")


def _run(tmp: Path, docs: list[dict], index=None, config: DedupConfig | None = None):
    config = config or DedupConfig()
    part = write_part(tmp / "part-00000.parquet", docs)
    sig = compute_signatures(part, config, tmp / "sigs")
    return sig, find_duplicates([part], [sig], config, tmp / "work", index)


def test_a_rerun_does_not_count_its_own_documents_as_index_matches(tmp_path):
    """Re-running a batch whose kept documents are already in the index (a crash after the index addition, a
    backfill run again) finds them there; they are ignored as candidates, but `index_matches` counted every row
    whose keeper was one of them, so the manifest said 1 of the batch's duplicates came from earlier batches when
    none did."""
    original = " ".join(EN[0:3])
    docs = [doc("orig", original, day=1), doc("copy", original.upper(), day=2), doc("other", " ".join(EN[3:6]))]
    index = LocalIndex(tmp_path / "idx", DedupConfig())
    sig, first = _run(tmp_path / "a", docs, index)
    assert first.stats["index_matches"] == 0
    index.add([sig], {"orig", "other"})
    _, again = _run(tmp_path / "b", docs, index)
    assert again.duplicates.equals(first.duplicates)
    assert again.duplicates.to_pylist()[0]["duplicate_of"] == "orig"
    assert again.stats["index_matches"] == 0
    # a real match through the index is still counted
    _, later = _run(tmp_path / "c", [doc("later-copy", original.lower(), day=5)], index)
    assert later.stats["index_matches"] == 1 and later.duplicates.to_pylist()[0]["duplicate_of"] == "orig"


def test_many_independent_edits_of_one_original_are_all_found(tmp_path):
    """240 copies of one text, each with its own 3 % of words edited: each is ~0.75 similar to the original (over
    threshold - margin) but only ~0.6 to another edit. The original's band groups then hold ~60 documents, more
    than GROUP_PAIRS, so only neighbours in doc order were paired: the original met two edits, edit-edit pairs
    failed verification, and ~220 planted duplicates were kept."""
    original = " ".join(EN)
    edits = [doc(f"edit{i:03d}", edit_words(original, 0.03, seed=i), day=2) for i in range(240)]
    docs = [*edits[:120], doc("original", original, day=1), *edits[120:]]
    config = DedupConfig()
    got = batch_hashes([d["text"] for d in docs], [d["lang"] for d in docs], config)
    sets = [np.unique(got.of(i)) for i in range(len(docs))]
    bands = minhash.band_hashes(
        minhash.signatures([shingles.to32(s) for s in sets], config.num_perm, config.seed),
        *minhash.band_params(config),
    )
    o = 120
    group = max(sum(int(bands[i][k] == bands[o][k]) for i in range(len(docs))) for k in range(bands.shape[1]))
    assert group > find.GROUP_PAIRS  # the case this is about: a band group too large to pair completely
    should = {
        d["doc_id"]
        for i, d in enumerate(docs)
        if i != o and find._jaccard(sets[o], sets[i]) >= config.min_similarity and (bands[i] == bands[o]).any()
    }
    assert len(should) >= 230
    _, result = _run(tmp_path, docs, config=config)
    rows = {r["doc_id"]: r["duplicate_of"] for r in result.duplicates.to_pylist()}
    assert should <= set(rows)
    assert set(rows.values()) == {"original"}
    # the same answer whatever the input order
    _, backward = _run(tmp_path / "b", docs[::-1], config=config)
    assert backward.duplicates.equals(result.duplicates)


def test_pivot_pairs_join_each_large_group_to_its_most_shared_member():
    # two large groups (keys 1 and 2) sharing document 7; document 3 is in one of them only
    size = find.GROUP_PAIRS + 2
    g1 = np.array([7, *range(100, 100 + size - 1)], dtype=np.int64)
    g2 = np.array([3, 7, *range(200, 200 + size - 2)], dtype=np.int64)
    keys = np.concatenate([np.full(len(g1), 1), np.full(len(g2), 2), [5, 5]]).astype(np.uint64)
    docs = np.concatenate([g1, g2, [8, 9]])
    members, sizes = find._large_groups(keys, docs)
    assert sizes.tolist() == [size, size] and members.tolist() == sorted(g1) + sorted(g2)
    pairs = {tuple(p) for p in find._pivot_pairs(members, sizes).tolist()}
    assert pairs == {(min(7, d), max(7, d)) for d in [*g1, *g2] if d != 7}
