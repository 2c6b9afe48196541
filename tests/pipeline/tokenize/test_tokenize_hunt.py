"""Defects found by a hunt through tokenizer training and sharding on small real data, each pinned by a test."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.tokenize.config import EOS_ID, ShardsConfig
from lmforge.pipeline.tokenize.sampling import choose_sample, stable_unit
from lmforge.pipeline.tokenize.shards import build_shards
from lmforge.pipeline.tokenize.trainer import encode_exact, load_tokenizer
from lmforge.schemas.manifest import Manifest
from lmforge.schemas.shards import docs_path, open_tokens
from tests.support.snapshots import make_snapshot, stdlib_docs


def _id_where(predicate, skip: tuple[str, ...] = ()) -> str:
    return next(d for d in (f"doc-{i}" for i in range(100_000)) if d not in skip and predicate(d))


def _texts(shards: Path, split: str, tokenizer: Path) -> list[str]:
    sp = load_tokenizer(tokenizer)
    out = []
    for shard in sorted(shards.glob(f"{split}-*.bin")):
        tokens = open_tokens(shard)
        index = pq.read_table(docs_path(shard))
        for offset, n in zip(index.column("offset").to_pylist(), index.column("n_tokens").to_pylist(), strict=True):
            ids = tokens[offset : offset + n].tolist()
            assert ids[-1] == EOS_ID
            out.append(sp.decode(ids[:-1]))
    return out


def test_a_one_document_snapshot_is_not_held_out_whole_from_the_tokenizer_sample(tmp_path):
    # Its hash fell below heldout_fraction: the sample was empty and training failed with "sample has 0 characters
    # … use a bigger snapshot", about a snapshot of 150 K characters.
    doc_id = _id_where(lambda d: stable_unit(d, "heldout0") < 0.02)
    text = "\n\n".join(d["text"] for d in stdlib_docs(max_chars=20_000))
    snap = make_snapshot(tmp_path, [{"doc_id": doc_id, "text": text}])
    sample = choose_sample(snap, sample_chars=10**6, heldout_fraction=0.02, report_chars=10**6, seed=0)
    assert sample.train_ids == {doc_id} and sample.train_chars == len(text)
    assert not sample.heldout_ids


def test_several_documents_all_below_the_heldout_fraction_leave_one_to_train(tmp_path):
    a = _id_where(lambda d: stable_unit(d, "heldout0") < 0.3)
    b = _id_where(lambda d: stable_unit(d, "heldout0") < 0.3, skip=(a,))
    snap = make_snapshot(tmp_path, [{"doc_id": a, "text": "x" * 100}, {"doc_id": b, "text": "y" * 100}])
    sample = choose_sample(snap, sample_chars=10**6, heldout_fraction=0.3, report_chars=10**6, seed=0)
    high = max((a, b), key=lambda d: stable_unit(d, "heldout0"))
    assert sample.train_ids == {high} and sample.heldout_ids == {a, b} - {high}


def test_a_one_document_snapshot_in_val_by_its_hash_still_has_a_train_split(tmp_path, tokenizer):
    # The only document went to val: 0 train shards, and training then failed with "no train-*.bin token shards".
    doc_id = _id_where(lambda d: stable_unit(d, "split0") < 0.05)
    snap = make_snapshot(tmp_path, [{"doc_id": doc_id, "text": "One document, and only one.\n" * 20}])
    out = build_shards(snap, tokenizer, tmp_path, ShardsConfig(val_fraction=0.05), workers=1)
    splits = Manifest.read(out).stats["splits"]
    assert (splits["train"]["docs"], splits["val"]["docs"]) == (1, 0)
    assert _texts(out, "train", tokenizer) == ["One document, and only one.\n" * 20]


def test_documents_all_in_val_by_their_hashes_leave_the_highest_one_to_train(tmp_path, tokenizer):
    ids = []
    for _ in range(3):
        ids.append(_id_where(lambda d: stable_unit(d, "split0") < 0.5, skip=tuple(ids)))
    snap = make_snapshot(tmp_path, [{"doc_id": d, "text": f"document {d}"} for d in ids])
    out = build_shards(snap, tokenizer, tmp_path, ShardsConfig(val_fraction=0.5), workers=1)
    high = max(ids, key=lambda d: stable_unit(d, "split0"))
    assert _texts(out, "train", tokenizer) == [f"document {high}"]
    assert sorted(_texts(out, "val", tokenizer)) == sorted(f"document {d}" for d in ids if d != high)


LITERAL_SPACE_SYMBOL = [
    "sentencepiece writes a space as ▁: '▁the' is a piece",
    "▁",
    "▁▁ leading and trailing ▁",
    "no symbol here, ordinary text",
]


def test_text_spelling_the_space_symbol_round_trips_through_the_shards(tmp_path, tokenizer):
    # "▁" (U+2581) in a document came back from the shards as " ": decoding turns every "▁" into a space.
    docs = [{"doc_id": f"sp-{i}", "text": t} for i, t in enumerate(LITERAL_SPACE_SYMBOL)]
    snap = make_snapshot(tmp_path, docs)
    out = build_shards(snap, tokenizer, tmp_path, ShardsConfig(val_fraction=0.0), workers=1)
    assert sorted(_texts(out, "train", tokenizer)) == sorted(LITERAL_SPACE_SYMBOL)
    rows = pq.read_table(docs_path(out / "train-00000.bin")).column("n_bytes").to_pylist()
    assert sorted(rows) == sorted(len(t.encode("utf-8")) for t in LITERAL_SPACE_SYMBOL)


def test_encode_exact_is_plain_encode_for_text_without_the_space_symbol(tokenizer):
    sp = load_tokenizer(tokenizer)
    texts = [d["text"] for d in stdlib_docs(max_chars=20_000)] + ["", " ", "中文 <EMAIL> 😀"]
    assert [x.tolist() for x in encode_exact(sp, texts)] == sp.encode(texts)
    mixed = encode_exact(sp, [*texts, *LITERAL_SPACE_SYMBOL])
    assert [sp.decode(x.tolist()) for x in mixed] == [*texts, *LITERAL_SPACE_SYMBOL]


@pytest.mark.parametrize("text", ["<s>", "</s>", "<unk>", "<pad>", "a <s> b </s> c <unk>", "<0x41><0xE2>"])
def test_text_spelling_control_or_byte_pieces_never_becomes_them(tokenizer, text):
    sp = load_tokenizer(tokenizer)
    (ids,) = encode_exact(sp, [text])
    assert not any(sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i) for i in ids.tolist())
    assert sp.decode(ids.tolist()) == text
