from __future__ import annotations

import dataclasses
import re

import pytest

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.errors import ConfigError, InputError, LmforgeError, NotFoundError
from lmforge.pipeline.privacy.placeholders import PLACEHOLDERS
from lmforge.pipeline.stage import find_stage
from lmforge.pipeline.tokenize.config import BOS_ID, EOS_ID, PAD_ID, UNK_ID, TokenizerConfig
from lmforge.pipeline.tokenize.trainer import load_tokenizer, train_tokenizer
from lmforge.schemas.manifest import Manifest
from tests.pipeline.tokenize.conftest import SMALL, corpus_docs
from tests.support.snapshots import make_snapshot, multilingual_docs


def test_manifest_records_snapshot_params_sample_and_digests(tokenizer, snapshot):
    m = Manifest.read(tokenizer)
    assert m.format == "lmforge.tokenizer"
    assert m.inputs == {"snapshot": Manifest.read(snapshot).id}
    assert m.params["vocab_size"] == 600 and m.params["normalization"] == "identity"
    assert m.stats["vocab_size"] == 600
    assert m.stats["sample_chars"] >= 150_000 and m.stats["sample_docs"] > 50
    files = {f.path: f.sha256 for f in m.files}
    assert set(files) == {"tokenizer.model", "tokenizer.vocab"}
    assert files["tokenizer.model"] == m.stats["model_sha256"] == sha256_file(tokenizer / "tokenizer.model")
    assert files["tokenizer.vocab"] == m.stats["vocab_sha256"]


def test_special_ids_are_fixed(tokenizer):
    sp = load_tokenizer(tokenizer)
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)


def test_each_placeholder_is_one_token(tokenizer):
    sp = load_tokenizer(tokenizer)
    for placeholder in PLACEHOLDERS:
        ids = sp.encode(placeholder)
        assert len(ids) == 1 and sp.id_to_piece(ids[0]) == placeholder
        assert ids[0] in sp.encode(f"write to {placeholder}, thanks")


def test_round_trip_real_text_cjk_and_placeholders(tokenizer):
    sp = load_tokenizer(tokenizer)
    texts = [d["text"] for d in corpus_docs()[:40]] + [d["text"] for d in multilingual_docs()]
    texts += ["  two leading spaces,\ttabs and trailing  \n\nblank lines\n", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 ümlaut 中文 12345"]
    for text in texts:
        assert sp.decode(sp.encode(text)) == text


@pytest.mark.parametrize("model_type", ["unigram", "bpe", "char"])
def test_round_trip_spaces_with_a_tokenizer_trained_on_text_without_any(tmp_path, model_type):
    # Chinese is written without spaces: a sample may hold none, so "▁" (sentencepiece's space) is no piece and a
    # space went to the bytes of "▁", which decode as a literal "▁".
    zh = [d for d in multilingual_docs() if d["lang"] == "zh"]
    docs = [dict(d, doc_id=f"{d['doc_id']}-{k}", text=d["text"].replace(" ", "")) for k in range(50) for d in zh]
    snap = make_snapshot(tmp_path, docs)
    config = dataclasses.replace(SMALL, model_type=model_type, vocab_size=388)
    sp = load_tokenizer(train_tokenizer(snap, tmp_path, config))
    for text in [d["text"] for d in zh] + ["北京 Beijing  上海\tShanghai"]:
        assert sp.decode(sp.encode(text)) == text


def test_same_snapshot_and_params_give_identical_model_bytes(tmp_path, snapshot):
    a = train_tokenizer(snapshot, tmp_path / "a", SMALL)
    b = train_tokenizer(snapshot, tmp_path / "b", SMALL)
    assert a.name == b.name
    assert (a / "tokenizer.model").read_bytes() == (b / "tokenizer.model").read_bytes()
    assert (a / "tokenizer.vocab").read_bytes() == (b / "tokenizer.vocab").read_bytes()


def test_rerun_is_a_noop(workspace, snapshot, tokenizer):
    before = (tokenizer / "manifest.json").stat().st_mtime_ns
    assert train_tokenizer(snapshot, workspace, SMALL) == tokenizer
    assert (tokenizer / "manifest.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("model_type", ["bpe", "char"])
def test_other_model_types(tmp_path, snapshot, model_type):
    config = dataclasses.replace(SMALL, model_type=model_type, sample_chars=40_000, vocab_size=500)
    sp = load_tokenizer(train_tokenizer(snapshot, tmp_path, config))
    for placeholder in PLACEHOLDERS:  # the reserved id wherever the placeholder stands
        pid = sp.piece_to_id(placeholder)
        assert (
            sp.encode(placeholder) == [pid]
            and pid in sp.encode(f"x{placeholder}y")
            and pid in sp.encode(f"中 {placeholder}")
        )
    text = multilingual_docs()[0]["text"]
    assert sp.decode(sp.encode(text)) == text


def test_unknown_snapshot_id(workspace, snapshot):
    with pytest.raises(NotFoundError, match="no finished snapshot 'nope'.*known: " + snapshot.name):
        find_stage(workspace, "snapshots", "nope")


def test_empty_snapshot(tmp_path):
    snap = make_snapshot(tmp_path, [])
    with pytest.raises(InputError, match="no documents"):
        train_tokenizer(snap, tmp_path, SMALL)


def test_too_few_characters(tmp_path):
    snap = make_snapshot(tmp_path, multilingual_docs())
    with pytest.raises(InputError, match=r"sample has \d+ characters.*min_sample_chars=10000"):
        train_tokenizer(snap, tmp_path, SMALL)


def test_vocab_too_large_for_the_sample_suggests_a_smaller_one(tmp_path, snapshot):
    config = dataclasses.replace(SMALL, vocab_size=60_000, sample_chars=20_000)
    with pytest.raises(
        LmforgeError, match=rf"{snapshot}.*too small for vocab_size 60000; use --vocab-size \d+ or less"
    ):
        train_tokenizer(snapshot, tmp_path, config)
    assert not list((tmp_path / "tokenizers").iterdir())  # nothing half-written is left behind


def test_damaged_model_file_is_detected(tmp_path, snapshot):
    out = train_tokenizer(snapshot, tmp_path, dataclasses.replace(SMALL, sample_chars=40_000, vocab_size=500))
    model = out / "tokenizer.model"
    data = model.read_bytes()
    model.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(LmforgeError, match="sha256 differs"):
        load_tokenizer(out)


def test_character_coverage_below_what_sentencepiece_accepts_is_a_config_error(tmp_path, snapshot):
    # sentencepiece refuses character_coverage < 0.98 ("INTERNAL: src/trainer_interface.cc(94) [...]"): the config
    # must say so up front, and the lowest value it lets through must train.
    with pytest.raises(ConfigError, match=r"tokenizer\.character_coverage.*0\.98"):
        from_dict(TokenizerConfig, {"character_coverage": 0.95}, "tokenizer")
    config = dataclasses.replace(SMALL, sample_chars=40_000, vocab_size=500, character_coverage=0.98)
    assert load_tokenizer(train_tokenizer(snapshot, tmp_path, config)).vocab_size() == 500


def test_vocab_too_small_for_the_sample_characters_says_the_size_needed(tmp_path):
    # 40 copies of the Chinese texts: a few hundred distinct characters, each of which must be a piece.
    zh = [d for d in multilingual_docs() if d["lang"] == "zh"]
    snap = make_snapshot(tmp_path, [dict(d, doc_id=f"{d['doc_id']}-{k}") for k in range(40) for d in zh])
    config = dataclasses.replace(SMALL, vocab_size=300, min_sample_chars=2000)
    with pytest.raises(LmforgeError) as err:
        train_tokenizer(snap, tmp_path, config)
    message = str(err.value)
    assert "\n" not in message and "--character_coverage option" not in message  # sentencepiece's flag, not ours
    needed = int(re.search(r"use --vocab-size (\d+) or more", message)[1])
    assert "tokenizer.character_coverage" in message
    assert load_tokenizer(train_tokenizer(snap, tmp_path, dataclasses.replace(config, vocab_size=needed)))


def test_a_char_model_smaller_than_the_vocab_asked_for_says_so(tmp_path, snapshot, caplog):
    """sentencepiece's char trainer takes vocab_size as a cap: the model came out with a few hundred pieces where
    2000 were asked for, and only the manifest knew. The log and the tokenizer report now say so (no error: that is
    how sentencepiece treats a char vocabulary, and the size is fixed by the sample's characters)."""
    from lmforge.pipeline.tokenize.report import report_markdown, tokenizer_report

    config = dataclasses.replace(SMALL, model_type="char", sample_chars=40_000, vocab_size=2000)
    with caplog.at_level("WARNING", logger="lmforge.pipeline.tokenize.trainer"):
        out = train_tokenizer(snapshot, tmp_path, config)
    got = Manifest.read(out).stats["vocab_size"]
    assert got < 2000 and load_tokenizer(out).vocab_size() == got
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and f"has {got} pieces, fewer than tokenizer.vocab_size 2000" in warned[0]
    assert f"use --vocab-size {got}" in warned[0]
    report = tokenizer_report(out, snapshot)
    assert report["vocab_size"] == got and report["requested_vocab_size"] == 2000
    assert len(report["warnings"]) == 1 and "fewer than tokenizer.vocab_size 2000" in report_markdown(report)
    caplog.clear()
    with caplog.at_level("WARNING", logger="lmforge.pipeline.tokenize.trainer"):
        assert train_tokenizer(snapshot, tmp_path, config) == out  # found again: said again
    assert any("fewer than tokenizer.vocab_size 2000" in r.getMessage() for r in caplog.records)


def test_a_model_of_the_size_asked_for_has_no_warning(tokenizer, snapshot):
    from lmforge.pipeline.tokenize.report import report_markdown, tokenizer_report

    report = tokenizer_report(tokenizer, snapshot)
    assert report["warnings"] == [] and "warning" not in report_markdown(report)


def test_the_digest_of_a_folder_that_is_no_intact_tokenizer_is_an_integrity_error(tmp_path, tokenizer, snapshot):
    """Another stage's folder, or a tokenizer whose manifest records no digest and whose model file is gone, was a
    FileNotFoundError about `tokenizer.model`."""
    import json
    import shutil

    from lmforge.pipeline.errors import IntegrityError
    from lmforge.pipeline.tokenize.trainer import MODEL_NAME, tokenizer_sha256

    with pytest.raises(IntegrityError, match=r"manifest format 'lmforge.snapshot' is not 'lmforge.tokenizer'"):
        tokenizer_sha256(snapshot)
    copy = shutil.copytree(tokenizer, tmp_path / tokenizer.name)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    del manifest["stats"]["model_sha256"]
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert tokenizer_sha256(copy) == tokenizer_sha256(tokenizer)  # read from the file when the manifest has none
    (copy / MODEL_NAME).unlink()
    with pytest.raises(IntegrityError, match=rf"{MODEL_NAME}: missing; the tokenizer folder is damaged"):
        tokenizer_sha256(copy)
