"""Token shards at their edges: snapshots of empty documents, documents longer than a shard, rebuilds by seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.errors import InputError
from lmforge.pipeline.tokenize.config import EOS_ID, ShardsConfig
from lmforge.pipeline.tokenize.shards import build_shards
from lmforge.schemas.manifest import Manifest
from lmforge.schemas.shards import docs_path, open_tokens, read_header
from tests.pipeline.tokenize.conftest import corpus_docs
from tests.support.snapshots import make_snapshot


def test_a_snapshot_of_only_empty_documents_is_an_input_error_not_shards_of_separators(tmp_path, tokenizer):
    """It built train and val shards of nothing but EOS tokens under a finished manifest."""
    snap = make_snapshot(tmp_path, [{"doc_id": f"d{i}", "text": "", "lang": "en"} for i in range(5)])
    with pytest.raises(InputError, match="every document of the snapshot is empty"):
        build_shards(snap, tokenizer, tmp_path, ShardsConfig(val_fraction=0.2), workers=1)
    assert not list((tmp_path / "shards").glob("*/manifest.json"))
    assert not list((tmp_path / "shards").glob(".tmp-*"))
    # one document with text is enough: the empty ones stay, as the EOS that ends them
    docs = [{"doc_id": f"d{i}", "text": "", "lang": "en"} for i in range(4)] + [corpus_docs()[0]]
    out = build_shards(make_snapshot(tmp_path / "one", docs), tokenizer, tmp_path, ShardsConfig(), workers=1)
    assert sum(s["docs"] for s in Manifest.read(out).stats["splits"].values()) == 5


def test_documents_longer_than_a_shard_get_a_shard_each_whole(tmp_path, snapshot, tokenizer):
    out = build_shards(snapshot, tokenizer, tmp_path, ShardsConfig(val_fraction=0.1, shard_tokens=5), workers=1)
    stats = Manifest.read(out).stats["splits"]
    for split in ("train", "val"):
        files = sorted(out.glob(f"{split}-*.bin"))
        assert len(files) == stats[split]["docs"] == stats[split]["shards"]
        for shard in files:
            tokens, header = open_tokens(shard), read_header(shard)
            assert header.doc_count == 1 and tokens[-1] == EOS_ID and EOS_ID not in tokens[:-1]
            assert pq.read_table(docs_path(shard)).column("n_tokens").to_pylist() == [header.token_count]


def test_another_split_seed_is_another_id_and_leaves_the_first_build_intact(tmp_path, snapshot, tokenizer):
    config = ShardsConfig(val_fraction=0.2)
    first = build_shards(snapshot, tokenizer, tmp_path, config, workers=1)
    before = {f.path: f.sha256 for f in Manifest.read(first).files}
    second = build_shards(snapshot, tokenizer, tmp_path, dataclasses.replace(config, seed=1), workers=1)
    assert second != first and {f.path: f.sha256 for f in Manifest.read(first).files} == before
    val = [
        np.asarray(open_tokens(p)) for p in (sorted(first.glob("val-*.bin"))[0], sorted(second.glob("val-*.bin"))[0])
    ]
    assert not np.array_equal(*val)


def _tokenizer_copy(tmp_path, tokenizer, **stats):
    """A copy of the session tokenizer whose manifest stats are changed: a value None removes the key."""
    import json
    import shutil

    copy = tmp_path / "tokenizers" / tokenizer.name
    shutil.copytree(tokenizer, copy)
    data = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    for key, value in stats.items():
        if value is None:
            del data["stats"][key]
        else:
            data["stats"][key] = value
    (copy / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    return copy


@pytest.mark.parametrize(
    ("vocab_size", "message"),
    [
        (None, r"no stats\.vocab_size in the tokenizer manifest"),
        ("600", r"stats\.vocab_size is '600', not a positive whole number"),
        (0, r"stats\.vocab_size is 0, not a positive whole number"),
        (70_000, r"stats\.vocab_size is 70000, but tokenizer\.model has 600 pieces"),
    ],
)
def test_a_tokenizer_manifest_without_a_valid_vocab_size_names_the_file_and_key(
    tmp_path, snapshot, tokenizer, vocab_size, message
):
    """A manifest without `stats.vocab_size` was a bare `KeyError: 'vocab_size'`; one that disagreed with its model
    picked the shards' dtype by the wrong size (uint32 shards of a 600-piece model, or ids past 65535 wrapped)."""
    from lmforge.pipeline.errors import IntegrityError
    from lmforge.pipeline.tokenize.shards import plan_shards

    copy = _tokenizer_copy(tmp_path, tokenizer, vocab_size=vocab_size)
    with pytest.raises(IntegrityError, match=message) as caught:
        plan_shards(snapshot, copy, tmp_path, ShardsConfig())
    assert str(caught.value).startswith(f"{copy / 'manifest.json'}: ")
