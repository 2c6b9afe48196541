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


def test_a_report_without_heldout_documents_says_so(tmp_path, caplog):
    """heldout_fraction 0 and a sample cap above the snapshot put every document into training: the report showed
    `held-out documents: 0` and `None` rates beside a per-language table with no rows, and no word of why."""
    from lmforge.pipeline.tokenize.config import TokenizerConfig
    from lmforge.pipeline.tokenize.trainer import train_tokenizer
    from tests.support.snapshots import make_snapshot, stdlib_docs

    config = TokenizerConfig(vocab_size=500, sample_chars=100_000, heldout_fraction=0.0, num_threads=1)
    snapshot = make_snapshot(tmp_path, stdlib_docs(max_chars=40_000))
    tokenizer = train_tokenizer(snapshot, tmp_path, config)
    assert not sample_for(snapshot, config).heldout_ids

    with caplog.at_level("WARNING", logger="lmforge.pipeline.tokenize.report"):
        report = tokenizer_report(tokenizer, snapshot)
    assert report["heldout_docs"] == 0 and report["unk_rate"] is None and report["top_pieces"] == []
    (warning,) = report["warnings"]
    assert "no held-out documents" in warning and "tokenizer.heldout_fraction 0" in warning
    assert f"- **warning**: {warning}" in report_markdown(report)
    assert warning in caplog.text


def test_a_report_on_another_snapshot_names_the_one_it_measured(tmp_path, tokenizer, snapshot):
    """`lmforge tokenizer report --snapshot OTHER` measured OTHER's documents but named only the training snapshot,
    so the figures read as if they were of that one."""
    from tests.support.snapshots import make_snapshot, multilingual_docs

    other = make_snapshot(tmp_path, [dict(d, doc_id=f"other-{d['doc_id']}") for d in multilingual_docs()])
    report = tokenizer_report(tokenizer, other)
    assert report["snapshot"] == snapshot.name and report["heldout_snapshot"] == other.name
    assert f"- held-out documents (of snapshot `{other.name}`): {report['heldout_docs']}," in report_markdown(report)
    own = tokenizer_report(tokenizer, snapshot)
    assert own["heldout_snapshot"] == snapshot.name and "- held-out documents: " in report_markdown(own)
