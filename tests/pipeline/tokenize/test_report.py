from __future__ import annotations

from lmforge.pipeline.tokenize.report import TOP_PIECES, report_markdown, tokenizer_report
from lmforge.pipeline.tokenize.trainer import sample_for
from lmforge.schemas.manifest import Manifest
from tests.pipeline.tokenize.conftest import SMALL


def test_report_on_heldout_documents(tokenizer, snapshot):
    report = tokenizer_report(tokenizer, snapshot)
    sample = sample_for(snapshot, SMALL)
    assert report["tokenizer"] == Manifest.read(tokenizer).id
    assert report["vocab_size"] == 600
    assert report["heldout_docs"] == len(sample.heldout_ids) > 0
    assert sum(s["tokens"] for s in report["languages"].values()) == report["heldout_tokens"]
    for s in report["languages"].values():
        assert s["chars_per_token"] == round(s["chars"] / s["tokens"], 4)
        assert s["bytes_per_token"] >= s["chars_per_token"]
    assert report["unk_rate"] == 0.0  # byte fallback: nothing is unknown
    assert 0.0 <= report["byte_fallback_rate"] < 1.0
    pieces = report["top_pieces"]
    assert len(pieces) == TOP_PIECES
    assert [p["count"] for p in pieces] == sorted((p["count"] for p in pieces), reverse=True)


def test_markdown_has_a_row_per_language_and_piece(tokenizer, snapshot):
    report = tokenizer_report(tokenizer, snapshot)
    md = report_markdown(report)
    assert md.startswith(f"# Tokenizer `{report['tokenizer']}`")
    for lang in report["languages"]:
        assert f"\n| {lang} |" in md
    assert md.count("\n| `") == TOP_PIECES
