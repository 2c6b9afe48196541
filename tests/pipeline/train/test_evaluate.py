"""Evaluation: loss/ppl/bpb arithmetic on crafted models, per-document attribution, per-language sums, unigram."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from lmforge.pipeline.errors import ConfigError, InputError, IntegrityError, NotFoundError
from lmforge.pipeline.train.evaluate import evaluate, unigram_baseline
from lmforge.pipeline.train.models import GPTConfig, ModelConfig, build_model
from lmforge.schemas.shards import open_tokens
from tests.support.tiny_shards import TinyShards, build, write_shard


class ContextFree(torch.nn.Module):
    """Predicts the same distribution after any context, so every token's NLL is known in closed form."""

    def __init__(self, logits: torch.Tensor, block_size: int | None = None) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits)
        self.block_size = block_size

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        return self.logits.expand(*idx.shape, -1), None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> TinyShards:
    return build(tmp_path_factory.mktemp("tiny"))


def val_table(tiny: TinyShards):
    return pq.read_table(tiny.shards_dir / "val-00000.docs.parquet").to_pandas()


def test_uniform_model_has_loss_ln_v(tiny: TinyShards) -> None:
    v = tiny.vocab_size
    out = evaluate(ContextFree(torch.zeros(v)), tiny.shards_dir, batch_size=4, seq_len=64)
    docs = val_table(tiny)
    n = int(docs.n_tokens.sum())
    assert out["tokens"] == n - 1  # the shard's first token has no context
    assert out["loss"] == pytest.approx(math.log(v), rel=1e-6)
    assert out["ppl"] == pytest.approx(v, rel=1e-5)
    # bytes of the first document count for the share of its tokens that were scored
    nbytes = docs.n_bytes.sum() - docs.n_bytes[0] / docs.n_tokens[0]
    assert out["bytes"] == pytest.approx(nbytes)
    assert out["bpb"] == pytest.approx((n - 1) * math.log(v) / math.log(2) / nbytes, rel=1e-6)


def test_every_token_is_attributed_to_its_document_and_language(tiny: TinyShards) -> None:
    torch.manual_seed(0)
    logits = torch.randn(tiny.vocab_size)
    out = evaluate(ContextFree(logits), tiny.shards_dir, batch_size=3, seq_len=50)
    neg_logp = -torch.log_softmax(logits, -1).double().numpy()
    tokens = np.asarray(open_tokens(tiny.shards_dir / "val-00000.bin"), dtype=np.int64)
    docs = val_table(tiny)
    for lang in ("en", "fr"):
        expected, count = 0.0, 0
        for off, n in zip(docs.offset[docs.lang == lang], docs.n_tokens[docs.lang == lang], strict=True):
            span = tokens[max(off, 1) : off + n]
            expected += neg_logp[span].sum()
            count += len(span)
        assert out["per_lang"][lang]["nll"] == pytest.approx(expected, rel=1e-6)
        assert out["per_lang"][lang]["tokens"] == count


def test_per_language_sums_to_overall(tiny: TinyShards) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(gpt=GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)), tiny.vocab_size)
    out = evaluate(model, tiny.shards_dir, batch_size=8, seq_len=64)
    langs = out["per_lang"]
    assert set(langs) == {"en", "fr"}
    for key in ("nll", "tokens", "bytes"):
        assert sum(m[key] for m in langs.values()) == pytest.approx(out[key])
    for m in [out, *langs.values()]:
        assert m["ppl"] == pytest.approx(math.exp(m["loss"]))
        assert m["bpb"] == pytest.approx(m["nll"] / math.log(2) / m["bytes"])


def test_batching_does_not_change_the_result_and_context_is_capped(tiny: TinyShards) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(gpt=GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=32)), tiny.vocab_size)
    a = evaluate(model, tiny.shards_dir, batch_size=1, seq_len=256)  # seq_len capped at the block size
    b = evaluate(model, tiny.shards_dir, batch_size=16, seq_len=32)
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["tokens"] == b["tokens"]
    assert a["batches"] > b["batches"]


def test_max_batches_limits_the_pass(tiny: TinyShards) -> None:
    out = evaluate(ContextFree(torch.zeros(tiny.vocab_size)), tiny.shards_dir, batch_size=2, seq_len=16, max_batches=3)
    assert out["batches"] == 3 and out["tokens"] == 3 * 2 * 16
    assert out["loss"] == pytest.approx(math.log(tiny.vocab_size))
    # the unigram baseline scores those same tokens, not the whole split ("model ppl X vs unigram ppl Y" compared a
    # few batches with everything)
    assert out["scored_to"][0] == 3 * 2 * 16 + 1
    part = unigram_baseline(tiny.shards_dir, scored_to=out["scored_to"])
    train = np.asarray(open_tokens(tiny.shards_dir / "train-00000.bin"), dtype=np.int64)
    val = np.asarray(open_tokens(tiny.shards_dir / "val-00000.bin"), dtype=np.int64)
    counts = np.bincount(train, minlength=max(train.max(), val.max()) + 1) + 1.0
    assert part["tokens"] == out["tokens"]
    assert part["loss"] == pytest.approx(-np.log(counts[val[1 : 3 * 2 * 16 + 1]] / counts.sum()).mean())
    assert "scored_to" not in evaluate(ContextFree(torch.zeros(tiny.vocab_size)), tiny.shards_dir, max_batches=10**6)
    # the French documents come last: the partial pass reaches none of them, and their row (all NaN) is left out
    assert set(out["per_lang"]) == set(part["per_lang"]) == {"en"}


def test_missing_split_and_missing_docs_table_are_clear_errors(tiny: TinyShards, tmp_path) -> None:
    with pytest.raises(NotFoundError, match=r"no test-\*\.bin token shards; check the shards id and the split$"):
        evaluate(ContextFree(torch.zeros(4)), tiny.shards_dir, split="test")
    # `lmforge register` scores val and has no --split: the message names neither option but the likely cause
    with pytest.raises(NotFoundError, match=r"no val-\*\.bin token shards \(shards built with shards\.val_fraction"):
        evaluate(ContextFree(torch.zeros(4)), tmp_path)
    (tmp_path / "val-00000.bin").write_bytes((tiny.shards_dir / "val-00000.bin").read_bytes())
    with pytest.raises(InputError, match=r"val-00000\.docs\.parquet"):
        evaluate(ContextFree(torch.zeros(4)), tmp_path)


def test_a_shard_its_manifest_lists_but_the_disk_lacks_is_an_error_not_a_smaller_pass(
    tiny: TinyShards, tmp_path
) -> None:
    """Scoring the shards that happen to be on disk would give a number for another split than the manifest's."""
    import shutil

    from lmforge.pipeline.stage import write_manifest

    shards = tmp_path / "shards"
    shutil.copytree(tiny.shards_dir, shards)
    write_manifest(shards, format="lmforge.shards", id_="s", inputs={}, params={}, stats={})
    full = evaluate(ContextFree(torch.zeros(tiny.vocab_size)), shards)
    assert full["tokens"] > 0
    (shards / "val-00000.bin").unlink()
    with pytest.raises(IntegrityError, match=r"val-00000\.bin: shard file missing"):
        evaluate(ContextFree(torch.zeros(tiny.vocab_size)), shards)


def test_shards_past_the_models_vocabulary_are_a_clear_error(tiny: TinyShards) -> None:
    """Shards cut by a bigger tokenizer than the model's (its tokenizer file gone, so no sha256 to compare) crashed
    the embedding with an IndexError; ids that fit would be silently wrong numbers, which a sha256 check catches."""
    model = build_model(ModelConfig(gpt=GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=32)), 8)
    with pytest.raises(IntegrityError, match=r"val-00000\.bin: .*token id .* vocabulary of 8"):
        evaluate(model, tiny.shards_dir, batch_size=2, seq_len=16, max_batches=1)


def test_unigram_baseline_on_crafted_counts(tmp_path) -> None:
    sha = "00" * 32
    write_shard(tmp_path / "train-00000.bin", [([0, 0, 0, 1], 9, "en")], 4, sha)
    write_shard(tmp_path / "val-00000.bin", [([0, 1], 3, "en"), ([2], 3, "de")], 4, sha)
    out = unigram_baseline(tmp_path, vocab_size=4)
    # add-one counts [4, 2, 1, 1] of 8: NLL = ln 2 + ln 4 + ln 8 = 6 ln 2 over 3 tokens and 6 bytes
    assert out["loss"] == pytest.approx(2 * math.log(2))
    assert out["bpb"] == pytest.approx(1.0)
    assert out["per_lang"]["de"]["loss"] == pytest.approx(math.log(8))
    assert out["per_lang"]["en"]["tokens"] == 2


def test_unigram_baseline_on_real_shards_matches_numpy(tiny: TinyShards) -> None:
    out = unigram_baseline(tiny.shards_dir)
    train = np.asarray(open_tokens(tiny.shards_dir / "train-00000.bin"), dtype=np.int64)
    val = np.asarray(open_tokens(tiny.shards_dir / "val-00000.bin"), dtype=np.int64)
    v = max(train.max(), val.max()) + 1  # no manifest here: the largest id seen
    counts = np.bincount(train, minlength=v) + 1.0
    expected = -np.log(counts[val] / counts.sum()).mean()
    assert out["loss"] == pytest.approx(expected) and out["tokens"] == len(val)
    assert 1.0 < out["ppl"] < tiny.vocab_size  # frequencies beat a uniform guess


def test_a_docs_table_that_disagrees_with_its_shard_is_an_integrity_error(tmp_path) -> None:
    """With the table's last row gone, the tokens of the missing document were charged to the one before it (another
    language, too) and bits per byte divided by its bytes only: a number, and a wrong one."""
    sha = "00" * 32
    write_shard(tmp_path / "train-00000.bin", [([5, 6, 3], 9, "en")], 8, sha)
    write_shard(tmp_path / "val-00000.bin", [([5, 6, 3], 9, "en"), ([5, 5, 5, 3], 12, "de")], 8, sha)
    docs = tmp_path / "val-00000.docs.parquet"
    whole = pq.read_table(docs)
    assert evaluate(ContextFree(torch.zeros(8)), tmp_path)["bytes"] == pytest.approx(21 * 6 / 7)
    pq.write_table(whole.slice(0, 1), docs)
    for score in (lambda: evaluate(ContextFree(torch.zeros(8)), tmp_path), lambda: unigram_baseline(tmp_path)):
        with pytest.raises(IntegrityError, match=r"val-00000\.docs\.parquet: 1 documents of 3 tokens, but .* 2 "):
            score()
    # the right rows and lengths, but the second document said to start inside the first
    pq.write_table(whole.set_column(0, "offset", pa.array([0, 2], pa.int64())), docs)
    with pytest.raises(IntegrityError, match="offsets do not follow"):
        evaluate(ContextFree(torch.zeros(8)), tmp_path)


@pytest.mark.parametrize("option", ["batch_size", "seq_len", "max_batches"])
def test_zero_batches_or_windows_are_config_errors_not_nan_results(tiny: TinyShards, option: str) -> None:
    with pytest.raises(ConfigError, match=f"{option} must be ≥ 1, got 0"):
        evaluate(ContextFree(torch.zeros(tiny.vocab_size)), tiny.shards_dir, **{option: 0})
