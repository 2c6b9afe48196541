"""The shipped zh/en/de sample: parsed from package data, substantial prose, with planted duplicates and PII."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from lmforge.pipeline.corpus.multilingual import _parse, multilingual_records
from lmforge.pipeline.errors import InputError


def _lang(rec: dict) -> str:
    return rec["id"].split("/")[1]


def test_all_three_languages_with_about_a_third_chinese():
    recs = multilingual_records()
    counts = Counter(_lang(r) for r in recs)
    assert set(counts) == {"zh", "en", "de"}
    assert 60 <= len(recs) <= 150
    assert 0.25 <= counts["zh"] / len(recs) <= 0.4
    assert [_lang(r) for r in recs[:3]] == ["zh", "en", "de"]  # interleaved, so a small cap keeps all three


def test_documents_are_substantial_prose():
    for rec in multilingual_records():
        text = rec["text"]
        if _lang(rec) == "zh":
            assert len(re.findall(r"[\u4e00-\u9fff]", text)) >= 300, rec["id"]
            assert "。" in text
        else:
            assert len(text.split()) >= 150, rec["id"]
        assert rec["source"] == "multilingual" and rec["created_at"]


def test_ids_unique_and_near_duplicates_present():
    ids = [r["id"] for r in multilingual_records()]
    assert len(ids) == len(set(ids))
    assert sum(i.endswith("-v2") for i in ids) >= 3


def test_planted_personal_data():
    text = "\n".join(r["text"] for r in multilingual_records())
    assert len(re.findall(r"[\w.]+@example\.(?:org|net|de|com|cn)", text)) >= 4
    assert "138 0013 8000" in text


def test_malformed_sample_names_the_line():
    with pytest.raises(InputError, match=r"x\.txt:1"):
        _parse("x.txt", "text before any header\n%%% a\nbody\n", "en")
    with pytest.raises(InputError, match=r"x\.txt:2"):
        _parse("x.txt", "%%% a\n%%%   \n", "en")


def test_sample_ships_its_provenance_and_licence_note():
    """The sample is redistributed text: where it comes from and under which licence travel with it (package data)."""
    from importlib import resources

    data = resources.files("lmforge.pipeline.corpus") / "data"
    note = (data / "README.md").read_text(encoding="utf-8")
    for lang in ("zh", "en", "de"):
        assert f"multilingual-{lang}.txt" in note
    assert "Provenance" in note and "fictitious" in note
    assert "Licence" in note and "Apache-2.0" in note
