"""Candidate walks and record makers on a small fake stdlib and site-packages (tests/data/corpus)."""

from __future__ import annotations

import json
import os
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


def _prose(words: int = 60) -> str:
    return " ".join(["plain documentation prose"] * words) + "\n"


def test_a_file_name_that_is_not_utf8_is_skipped(tmp_path):
    """A latin-1 file name (read back with surrogate escapes) cannot become an id: it was a UnicodeEncodeError."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "README.md").write_text(_prose(), encoding="utf-8")
    with open(os.path.join(os.fsencode(pkg), "caf\xe9.md".encode("latin-1")), "wb") as f:
        f.write(_prose().encode())
    assert [c.rel for c in site_candidates(tmp_path)] == ["pkg/README.md"]


def test_a_fifo_is_not_a_candidate(tmp_path):
    """Reading a FIFO named README.md blocks forever (st_size is 0, so no size guard catches it)."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "README.md").write_text(_prose(), encoding="utf-8")
    os.mkfifo(pkg / "NOTES.md")
    assert [c.rel for c in site_candidates(tmp_path)] == ["pkg/README.md"]


def test_a_lone_surrogate_in_a_docstring_becomes_a_replacement_character(tmp_path):
    """`"\\ud800"` in a non-raw docstring is a lone surrogate: the record must still encode as UTF-8."""
    (tmp_path / "mod.py").write_text('"""Surrogates such as \\ud800 are explained here. ' + _prose() + '"""\n')
    (cand,) = stdlib_candidates(tmp_path)
    (rec,) = records(cand)
    assert "\ufffd" in rec["text"]
    json.dumps(rec, ensure_ascii=False).encode("utf-8")
