"""The LSTM baseline: same forward contract as the GPT, tying, carried state, and that it learns real text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.train.lstm import LSTMLM
from lmforge.pipeline.train.models import LSTMConfig, ModelConfig, build_model
from lmforge.schemas.shards import open_tokens
from tests.support.tiny_shards import build, train_steps

V = 61


def tiny(**kw) -> LSTMLM:
    torch.manual_seed(0)
    return LSTMLM(LSTMConfig(**{"n_layer": 2, "n_embd": 16, "hidden_size": 24, **kw}), V).eval()


@pytest.fixture(scope="module")
def train_tokens(tmp_path_factory) -> tuple[np.ndarray, int]:
    shards = build(tmp_path_factory.mktemp("tiny"))
    return np.asarray(open_tokens(shards.shards_dir / "train-00000.bin"), dtype=np.int64), shards.vocab_size


def test_forward_contract() -> None:
    model = tiny()
    idx = torch.randint(0, V, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, V) and loss is None
    _, loss = model(idx, torch.randint(0, V, (3, 10)))
    assert loss.ndim == 0 and abs(loss.item() - np.log(V)) < 0.5
    assert model.block_size is None


def test_is_causal() -> None:
    model = tiny()
    idx = torch.randint(0, V, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % V
    torch.testing.assert_close(model(idx)[0][:, :7], model(changed)[0][:, :7])


def test_tied_embeddings_share_storage_even_with_a_wider_hidden_state() -> None:
    tied, untied = tiny(tie_embeddings=True), tiny(tie_embeddings=False)
    assert tied.lm_head.weight.data_ptr() == tied.wte.weight.data_ptr()
    assert untied.lm_head.weight.data_ptr() != untied.wte.weight.data_ptr()
    assert tied.lm_head.weight.shape == (V, 16)  # hidden 24 projected down to the embedding width
    assert untied.lm_head.weight.shape == (V, 24)


def test_carried_state_matches_one_full_pass() -> None:
    model = tiny()
    idx = torch.randint(0, V, (2, 15))
    full, _ = model(idx)
    state = model.new_cache(2)
    parts = [model.decode(idx[:, :6], state)] + [model.decode(idx[:, t : t + 1], state) for t in range(6, 15)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_num_params_and_flops() -> None:
    model = tiny()
    n = sum(p.numel() for p in model.parameters())
    assert model.num_params() == n
    assert model.num_params(exclude_embeddings=True) == n - V * 16
    assert model.flops_per_token() == 6 * n


def test_built_from_config() -> None:
    cfg = from_dict(ModelConfig, {"kind": "lstm", "lstm": {"n_layer": 1, "hidden_size": 32}}, "model")
    model = build_model(cfg, 40)
    assert isinstance(model, LSTMLM) and model.lstm.num_layers == 1 and cfg.context_length is None


def test_loss_decreases_on_real_text(train_tokens) -> None:
    tokens, vocab = train_tokens
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="lstm", lstm=LSTMConfig(n_layer=1, n_embd=64, hidden_size=128)), vocab)
    losses = train_steps(model, tokens, 50)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0
