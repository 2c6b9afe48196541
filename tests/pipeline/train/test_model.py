"""The GPT decoder: shapes, causality, positions, tying, init, FLOPs, KV cache, and that it learns real text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.model import GPT
from lmforge.pipeline.train.models import GPTConfig, ModelConfig, build_model
from lmforge.schemas.shards import open_tokens
from tests.support.tiny_shards import build, train_steps

V = 97


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = {"n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 24, **kw}
    return GPT(GPTConfig(**cfg), V).eval()


@pytest.fixture(scope="module")
def train_tokens(tmp_path_factory) -> tuple[np.ndarray, int]:
    shards = build(tmp_path_factory.mktemp("tiny"))
    return np.asarray(open_tokens(shards.shards_dir / "train-00000.bin"), dtype=np.int64), shards.vocab_size


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_shapes_and_loss(pos: str) -> None:
    model = tiny(pos=pos)
    idx = torch.randint(0, V, (3, 24))
    logits, loss = model(idx)
    assert logits.shape == (3, 24, V) and loss is None
    logits, loss = model(idx, torch.randint(0, V, (3, 24)))
    assert loss.ndim == 0
    # Fresh GPT-2-style init predicts close to uniformly: loss near ln V.
    assert abs(loss.item() - np.log(V)) < 0.5


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_future_tokens_do_not_change_earlier_logits(pos: str) -> None:
    model = tiny(pos=pos)
    idx = torch.randint(0, V, (2, 20))
    changed = idx.clone()
    changed[:, 12:] = (changed[:, 12:] + 1) % V
    a, _ = model(idx)
    b, _ = model(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_rope_and_learned_positions_differ_in_parameters() -> None:
    rope, learned = tiny(pos="rope"), tiny(pos="learned")
    assert rope.wpe is None and learned.wpe is not None
    assert learned.num_params() - rope.num_params() == 24 * 32
    assert "rope_cos" not in rope.state_dict()  # recomputed from the config, not saved


def test_context_longer_than_block_size_is_refused() -> None:
    with pytest.raises(ValueError, match="context length 24"):
        tiny()(torch.zeros(1, 25, dtype=torch.long))


def test_tied_embeddings_share_storage_and_untied_do_not() -> None:
    tied, untied = tiny(tie_embeddings=True), tiny(tie_embeddings=False)
    assert tied.lm_head.weight.data_ptr() == tied.wte.weight.data_ptr()
    assert untied.lm_head.weight.data_ptr() != untied.wte.weight.data_ptr()
    assert untied.num_params() - tied.num_params() == V * 32


def test_residual_projections_get_scaled_init() -> None:
    model = GPT(GPTConfig(n_layer=8, n_head=4, n_embd=128, block_size=16), 1000)
    proj = model.blocks[0].mlp.c_fc.weight.std().item()
    scaled = model.blocks[0].mlp.c_proj.weight.std().item()
    assert proj == pytest.approx(0.02, rel=0.05)
    assert scaled == pytest.approx(0.02 / 4.0, rel=0.05)  # 1/sqrt(2 * 8 layers)


def test_num_params_and_flops_per_token() -> None:
    model = tiny()
    n = sum(p.numel() for p in model.parameters())
    assert model.num_params() == n
    assert model.num_params(exclude_embeddings=True) == n - V * 32
    # 6N + 12·L·H·Q·T with N all matmul parameters (tied embedding counted once, as the output projection).
    assert model.flops_per_token(24) == 6 * n + 12 * 2 * 4 * 8 * 24


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_kv_cache_decoding_matches_full_forward(pos: str) -> None:
    model = tiny(pos=pos)
    idx = torch.randint(0, V, (2, 22))
    full, _ = model(idx)
    cache = model.new_cache(2)
    parts = [model.decode(idx[:, :9], cache), model.decode(idx[:, 9:13], cache)]
    parts += [model.decode(idx[:, t : t + 1], cache) for t in range(13, 22)]
    assert cache.pos == 22
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_works_under_bf16_autocast() -> None:
    model = tiny()
    idx = torch.randint(0, V, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss = model(idx, idx)
    assert logits.float().isfinite().all() and loss.dtype == torch.float32


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="model.gpt.n_embd"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ConfigError, match="model.gpt.n_head"):
        GPTConfig(n_embd=12, n_head=4)  # head width 3 is odd: no RoPE
    with pytest.raises(ConfigError, match=r"model\.kind"):
        from_dict(ModelConfig, {"kind": "rnn"}, "model")
    with pytest.raises(ConfigError, match="unknown field"):
        from_dict(ModelConfig, {"gpt": {"layers": 2}}, "model")


def test_model_config_from_toml_dict_builds_the_right_model() -> None:
    cfg = from_dict(ModelConfig, {"kind": "gpt", "gpt": {"n_layer": 1, "pos": "learned", "block_size": 8}}, "model")
    model = build_model(cfg, 50)
    assert isinstance(model, GPT) and len(model.blocks) == 1 and cfg.context_length == 8


def test_loss_decreases_on_real_text(train_tokens) -> None:
    tokens, vocab = train_tokens
    torch.manual_seed(0)
    model = build_model(ModelConfig(gpt=GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=32)), vocab)
    losses = train_steps(model, tokens, 50)
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0
