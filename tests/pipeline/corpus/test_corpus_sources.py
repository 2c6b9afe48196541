"""Candidate walks and record makers on a small fake stdlib and site-packages (tests/data/corpus)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.corpus.sources import looks_like_prose, records, site_candidates, stdlib_candidates

DATA = Path(__file__).parents[2] / "data" / "corpus"


def test_stdlib_walk_skips_test_folders():
    assert [(c.source, c.kind, c.rel) for c in stdlib_candidates(DATA / "stdlib")] == [
        ("python-stdlib", "python", "textkit/__init__.py")
    ]


def test_site_walk_classifies_files_in_sorted_order():
    found = [(c.source, c.rel) for c in site_candidates(DATA / "site-packages")]
    assert found == [
        ("pkg-docs", "demo_pkg/README.md"),
        ("pkg-docs", "demo_pkg/__init__.py"),
        ("pkg-docs", "demo_pkg/words.txt"),
        ("pkg-metadata", "demo_pkg-1.0.dist-info/METADATA"),
        ("pkg-license", "demo_pkg-1.0.dist-info/licenses/LICENSE"),
        ("pkg-license", "other_pkg-2.0.dist-info/LICENSE"),
        ("pkg-metadata", "other_pkg-2.0.dist-info/METADATA"),
    ]  # sorted top-down walk; RECORD is machine-readable and never a candidate


def _by_rel() -> dict[str, list[dict]]:
    return {c.rel: records(c) for c in site_candidates(DATA / "site-packages")}


def test_metadata_keeps_author_email_and_description_but_not_classifiers():
    (rec,) = _by_rel()["demo_pkg-1.0.dist-info/METADATA"]
    assert rec["source"] == "pkg-metadata"
    assert rec["id"] == "pkg-metadata/demo_pkg-1.0.dist-info/METADATA"
    assert rec["url"] == "pkg:demo_pkg-1.0.dist-info/METADATA"
    assert "Author-email: Ada Example <ada.example@example.org>" in rec["text"]
    assert "The long description of a package is its README" in rec["text"]
    assert "Classifier" not in rec["text"] and "Requires-Dist" not in rec["text"]


def test_word_list_is_not_prose_but_readme_is():
    recs = _by_rel()
    assert recs["demo_pkg/words.txt"] == []
    (readme,) = recs["demo_pkg/README.md"]
    assert readme["text"].startswith("# Demo package")


def test_identical_licences_give_identical_texts():
    recs = _by_rel()
    (a,) = recs["demo_pkg-1.0.dist-info/licenses/LICENSE"]
    (b,) = recs["other_pkg-2.0.dist-info/LICENSE"]
    assert a["text"] == b["text"] and a["id"] != b["id"]


def test_prose_detector_examples():
    assert looks_like_prose("This is a sentence with several words in it. " * 10)
    assert not looks_like_prose("short")
    assert not looks_like_prose("\n".join(str(i) for i in range(1000)))
    assert not looks_like_prose("0x1f,0x2e,0x3d,0x4c " * 50)


@given(st.text(max_size=400))
def test_prose_detector_never_fails(text):
    assert looks_like_prose(text) in (True, False)
