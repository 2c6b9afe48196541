from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.dedup import find, minhash, shingles
from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import find_duplicates
from lmforge.pipeline.dedup.signatures import batch_hashes, compute_signatures
from lmforge.pipeline.errors import IntegrityError
from lmforge.schemas.snapshot import DUPLICATES_SCHEMA
from tests.support.dedup import doc, edit_words, paragraphs, write_part

EN, ZH = paragraphs("en"), paragraphs("zh")
ORIGINALS = [" ".join(EN[i : i + 3]) for i in range(0, 12, 3)]  # four ~110-word documents


def corpus() -> list[dict]:
    docs = [doc(f"orig{i}", t, day=10) for i, t in enumerate(ORIGINALS)]
    docs += [
        doc("copy0", ORIGINALS[0].upper().replace(",", " ;"), day=12),  # format-only change: exact
        doc("edit1", edit_words(ORIGINALS[1], 0.01, seed=1), day=8),  # earlier: becomes the keeper
        doc("reorder2", " ".join(reversed(EN[6:9])), day=11),
        doc("zh0", ZH[0] + ZH[1], lang="zh", day=10),
        doc("zh0-near", (ZH[0] + ZH[1]).replace("老人", "老太太"), lang="zh", day=None),
        doc("empty", "", day=None),
        doc("punct", "!!! ...", day=None),
        doc("one", "word", day=2),
        doc("one-again", "Word.", day=2),
        doc("short", "four words only here", day=2),
    ]
    return docs


def run(tmp_path: Path, groups: list[list[dict]], config: DedupConfig | None = None):
    config = config or DedupConfig()
    parts = [write_part(tmp_path / "parts" / f"part-{i:05d}.parquet", g) for i, g in enumerate(groups)]
    sigs = [compute_signatures(p, config, tmp_path / "sigs") for p in parts]
    return find_duplicates(parts, sigs, config, tmp_path / "work", None)


def test_exact_and_near_duplicates_with_keeper_rule(tmp_path):
    result = run(tmp_path, [corpus()])
    assert result.duplicates.schema == DUPLICATES_SCHEMA
    rows = {r["doc_id"]: r for r in result.duplicates.to_pylist()}
    assert rows["copy0"]["duplicate_of"] == "orig0" and rows["copy0"]["reason"] == "exact_duplicate"
    assert rows["copy0"]["similarity"] == 1.0
    # edit1 is older than orig1, so it is kept and the original is the duplicate.
    assert rows["orig1"]["duplicate_of"] == "edit1" and rows["orig1"]["reason"] == "near_duplicate"
    assert 0.7 <= rows["orig1"]["similarity"] < 1.0
    assert rows["reorder2"]["duplicate_of"] == "orig2" and rows["reorder2"]["similarity"] > 0.8
    # created_at null sorts last, so the dated Chinese document is kept.
    assert rows["zh0-near"]["duplicate_of"] == "zh0" and rows["zh0-near"]["reason"] == "near_duplicate"
    # Same created_at: the longer text is kept; documents without shingles are only exact-deduplicated.
    assert rows["one"]["duplicate_of"] == "one-again" and rows["one"]["reason"] == "exact_duplicate"
    # an empty text and punctuation have no words, but are not the same text (`test_wordless_documents_...`)
    assert set(rows) == {"copy0", "orig1", "reorder2", "zh0-near", "one"}
    assert result.stats["exact_duplicate"] == 2 and result.stats["near_duplicate"] == 3
    assert result.stats["no_shingles"] == 5 and result.stats["docs"] == len(corpus())
    assert result.removed == set(rows)


def test_same_result_whatever_the_split_into_parts(tmp_path):
    docs = corpus()
    one = run(tmp_path / "a", [docs])
    three = run(tmp_path / "b", [docs[:4], docs[4:9], docs[9:]])
    assert one.duplicates.equals(three.duplicates)
    assert one.stats == three.stats


def test_band_sort_spills_to_many_buckets_with_the_same_result(tmp_path, monkeypatch):
    docs = corpus()
    one = run(tmp_path / "a", [docs[:7], docs[7:]])
    monkeypatch.setattr(find, "BUCKET_BYTES", 64)  # a few records per bucket file: hundreds of buckets
    seen = []
    real_fromfile = find.np.fromfile
    monkeypatch.setattr(find.np, "fromfile", lambda f, dtype: seen.append(f) or real_fromfile(f, dtype=dtype))
    many = run(tmp_path / "b", [docs[:7], docs[7:]])
    assert len(seen) >= 64
    assert many.duplicates.equals(one.duplicates) and many.stats == one.stats
    assert not list((tmp_path / "b" / "work").iterdir())  # the buckets are scratch: removed afterwards


def test_loose_banding_gives_more_candidates_but_verification_keeps_the_same_duplicates(tmp_path):
    words = ORIGINALS[3].split()
    docs = [*corpus(), doc("part3", " ".join(words[: len(words) * 3 // 10]))]  # Jaccard ~0.3 with orig3
    strict = run(tmp_path / "a", [docs])
    loose = run(tmp_path / "b", [docs], DedupConfig(bands=128, rows=1))
    assert loose.stats["candidates"] > strict.stats["candidates"]
    assert loose.duplicates.equals(strict.duplicates)


def test_distinct_documents_are_not_duplicates(tmp_path):
    result = run(tmp_path, [[doc(f"p{i}", t) for i, t in enumerate(EN + ZH)]])
    assert result.duplicates.num_rows == 0 and result.stats["verified"] == 0


def test_huge_document_and_its_copy(tmp_path):
    huge = " ".join(EN * 400)  # ~150k words, 1 MB
    result = run(tmp_path, [[doc("huge", huge), doc("huge-edit", huge + " and one more sentence at the end")]])
    (row,) = result.duplicates.to_pylist()  # same created_at: the longer one is kept
    assert (row["doc_id"], row["duplicate_of"], row["reason"]) == ("huge", "huge-edit", "near_duplicate")
    assert row["similarity"] > 0.95


def test_signatures_are_reused_and_never_mixed(tmp_path):
    part = write_part(tmp_path / "part-00000.parquet", corpus())
    first = compute_signatures(part, DedupConfig(), tmp_path / "sigs")
    mtime = first.stat().st_mtime_ns
    assert compute_signatures(part, DedupConfig(), tmp_path / "sigs") == first
    assert first.stat().st_mtime_ns == mtime
    assert pq.read_metadata(first).num_rows == len(corpus())
    other = DedupConfig(num_perm=64)
    with pytest.raises(IntegrityError, match="num_perm"):
        find_duplicates([part], [first], other, tmp_path / "work", None)


def test_every_edit_of_one_original_is_found_whatever_the_order(tmp_path):
    """Thirty independent light edits of one text: each is ~0.75 similar to the original but only ~0.6 to the
    others. A band bucket holds the original and several edits; pairing only neighbours in it compared mostly
    edit with edit, so edits were kept depending on where the original happened to sort."""
    original = " ".join(EN)
    edits = [doc(f"edit{i:02d}", edit_words(original, 0.03, seed=i), day=2) for i in range(30)]
    docs = [doc("original", original, day=1), *edits]
    config = DedupConfig()
    got = batch_hashes([d["text"] for d in docs], [d["lang"] for d in docs], config)
    sets = [np.unique(got.of(i)) for i in range(len(docs))]
    bands = minhash.band_hashes(
        minhash.signatures([shingles.to32(s) for s in sets], config.num_perm, config.seed),
        *minhash.band_params(config),
    )
    # edits LSH puts beside the original (a band in common) and that are truly similar to it
    found_by_lsh = {
        d["doc_id"]
        for i, d in enumerate(docs[1:], 1)
        if find._jaccard(sets[0], sets[i]) >= config.min_similarity and (bands[i] == bands[0]).any()
    }
    assert len(found_by_lsh) >= 25
    forward = run(tmp_path / "a", [docs])
    rows = {r["doc_id"]: r["duplicate_of"] for r in forward.duplicates.to_pylist()}
    assert found_by_lsh <= set(rows) and set(rows.values()) == {"original"}
    backward = run(tmp_path / "b", [docs[::-1][:10], docs[::-1][10:]])
    assert backward.duplicates.equals(forward.duplicates)


def test_band_groups_are_paired_completely_up_to_a_bound():
    keys = np.array([5, 5, 5, 9] + [7] * (find.GROUP_PAIRS + 1), dtype=np.uint64)
    docs = np.array([8, 2, 4, 1] + list(range(100, 101 + find.GROUP_PAIRS))[::-1], dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    pairs = {tuple(p) for p in find._group_pairs(keys[order], docs[order]).tolist()}
    assert {(2, 4), (2, 8), (4, 8)} <= pairs  # a small group: every pair, smaller doc first
    large = sorted(p for p in pairs if p[0] >= 100)
    assert large == [(100 + i, 101 + i) for i in range(find.GROUP_PAIRS)]  # a large one: neighbours in doc order
    assert len(pairs) == 3 + find.GROUP_PAIRS


def test_a_cut_signatures_file_is_computed_again(tmp_path):
    """A crash can leave a signatures file whose bytes never reached the disk under its final name; the re-run that
    finds it must recompute it rather than fail on it for good."""
    part = write_part(tmp_path / "part-00000.parquet", corpus())
    first = compute_signatures(part, DedupConfig(), tmp_path / "sigs")
    whole = pq.read_table(first)
    first.write_bytes(first.read_bytes()[:64])
    again = compute_signatures(part, DedupConfig(), tmp_path / "sigs")
    assert again == first and pq.read_table(again).equals(whole)


def test_a_threshold_under_the_margin_names_both_and_the_fix() -> None:
    """`lmforge dedup --threshold 0.05` keeps the default margin 0.1: the error says why a field the user never set
    is wrong, and what to do."""
    from lmforge.pipeline.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"dedup\.margin: must be in \[0, threshold\) = \[0, 0\.05\), got 0\.1.*set dedup\.margin lower",
    ):
        DedupConfig(threshold=0.05)
    assert DedupConfig(threshold=0.05, margin=0.0).min_similarity == 0.05


# Written for this test: a short paragraph each about the country, as a near copy would differ from it (one number).
THAI = (
    "ประเทศไทยมีประชากรประมาณหกสิบหกล้านคน กรุงเทพมหานครเป็นเมืองหลวงและเมืองที่ใหญ่ที่สุดของประเทศ "
    "ภาษาไทยเป็นภาษาราชการ และศาสนาพุทธเป็นศาสนาที่คนส่วนใหญ่นับถือ อาหารไทยมีชื่อเสียงไปทั่วโลกเพราะมีรสชาติที่หลากหลาย "
    "ทั้งเปรี้ยว หวาน เค็ม และเผ็ด นักท่องเที่ยวจำนวนมากเดินทางมาเที่ยวชายหาดทางภาคใต้ในช่วงฤดูหนาวของทุกปี"
)
KHMER = (
    "ប្រទេសកម្ពុជាមានប្រជាជនប្រហែលដប់ប្រាំមួយលាននាក់ ហើយរាជធានីគឺភ្នំពេញដែលជាទីក្រុងធំជាងគេបំផុតនៅក្នុងប្រទេស "
    "ប្រាសាទអង្គរវត្តគឺជាកេរដំណែលដ៏ល្បីល្បាញរបស់ប្រទេសនេះ"
)
TIBETAN = (
    "ལྷ་ས་ནི་བོད་ཀྱི་རྒྱལ་ས་ཡིན། གྲོང་ཁྱེར་འདི་ས་མཐོ་པོ་ཞིག་ལ་ཡོད། པོ་ཏ་ལ་ཕོ་བྲང་ནི་གྲོང་ཁྱེར་གྱི་དབུས་སུ་ཡོད། "
    "བོད་ཀྱི་མི་མང་ཚོས་ཐུག་པ་དང་རྩམ་པ་ཟ་བ་ཡིན། ལོ་གསར་སྐབས་སུ་ཁོང་ཚོས་དགའ་སྟོན་ཆེན་པོ་བྱེད།"
)


@pytest.mark.parametrize(
    ("lang", "text", "edited"),
    [
        ("th", THAI, THAI.replace("หกสิบหก", "หกสิบเจ็ด")),
        ("km", KHMER, KHMER.replace("ដប់ប្រាំមួយ", "ដប់ប្រាំពីរ")),
        # Tibetan (py3langid's `dz`) spaces its phrases only, but normalisation splits words at the tsheg (་), so it
        # is shingled by syllables without being in `char_langs` (which would refuse every index made before)
        ("dz", TIBETAN, TIBETAN.replace("ཆེན་པོ", "ཆེ་ཤོས")),
    ],
)
def test_near_copies_in_scripts_without_spaces_between_words(tmp_path, lang, text, edited):
    # Split at spaces these are a few phrase-long "words": the Khmer one had too few for a word shingle (only an
    # exact copy was found) and the Thai one scored 0.71 after one edit, one more edit from being missed.
    result = run(tmp_path, [[doc("a", text, lang=lang), doc("b", edited, lang=lang)]])
    rows = result.duplicates.to_pylist()
    assert len(rows) == 1 and {rows[0]["doc_id"], rows[0]["duplicate_of"]} == {"a", "b"}  # the longer one is kept
    assert rows[0]["reason"] == "near_duplicate" and rows[0]["similarity"] >= 0.85


def test_wordless_documents_are_duplicates_only_of_the_same_symbols(tmp_path):
    """Without words, every document had the digest of nothing: "???", an emoji and a row of dashes were exact
    duplicates of "!!!" (and of every wordless document in the index), so with the quality filters off all but one
    were removed. Now they are compared by their characters, spacing and width still ignored."""
    docs = [
        doc("bang", "!!! ...", day=1),
        doc("bang-spaced", " ！！！ . . .\n", day=2),  # fullwidth and spacing only: still the same
        doc("ask", "???", day=1),
        doc("smile", "\U0001f600", day=1),
        doc("party", "\U0001f389\U0001f389", day=1),
        doc("dashes", "-- -- --", day=1),
        doc("empty", "", day=1),
        doc("blank", " \n\t ", day=2),
    ]
    rows = {r["doc_id"]: (r["duplicate_of"], r["reason"]) for r in run(tmp_path, [docs]).duplicates.to_pylist()}
    assert rows == {"bang-spaced": ("bang", "exact_duplicate"), "blank": ("empty", "exact_duplicate")}
