"""Sampling: greedy, temperature, top-k, top-p, repetition penalty, seeds, EOS, KV cache vs no cache, text level."""

from __future__ import annotations

import pytest
import sentencepiece as spm
import torch

from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.models import GPTConfig, LSTMConfig, ModelConfig, build_model
from lmforge.pipeline.train.sample import generate, generate_text, next_token_probs
from tests.support.tiny_shards import build


class FixedLogits(torch.nn.Module):
    """A crafted 'model' that predicts the same next-token logits after any context."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits))
        self.block_size = None

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        return self.logits.expand(*idx.shape, -1), None


def probs_to_logits(probs: list[float]) -> list[float]:
    return torch.tensor(probs).log().tolist()


def tiny_gpt(block_size: int = 16) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(gpt=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=block_size)), 50)


def tiny_lstm() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(kind="lstm", lstm=LSTMConfig(n_layer=1, n_embd=16, hidden_size=32)), 50)


def test_top_k_never_samples_outside_the_k_most_likely() -> None:
    model = FixedLogits(probs_to_logits([0.05, 0.3, 0.02, 0.25, 0.08, 0.3]))
    out = generate(model, [0], max_new_tokens=300, top_k=3, seed=1)
    assert set(out) == {1, 3, 5}
    probs = next_token_probs(model.logits, top_k=2)
    assert set(torch.nonzero(probs).flatten().tolist()) <= {1, 3, 5} and (probs > 0).sum() == 2


def test_top_p_keeps_the_smallest_set_reaching_the_mass() -> None:
    model = FixedLogits(probs_to_logits([0.1, 0.5, 0.05, 0.3, 0.05]))
    probs = next_token_probs(model.logits, top_p=0.75)
    assert torch.nonzero(probs).flatten().tolist() == [1, 3]  # 0.5 + 0.3 ≥ 0.75
    torch.testing.assert_close(probs[[1, 3]], torch.tensor([0.625, 0.375]))
    assert set(generate(model, [0], max_new_tokens=300, top_p=0.75, seed=3)) == {1, 3}
    assert torch.nonzero(next_token_probs(model.logits, top_p=0.3)).flatten().tolist() == [1]


def test_greedy_is_deterministic_and_takes_the_argmax() -> None:
    model = FixedLogits([0.1, 2.0, 0.3])
    assert generate(model, [0], max_new_tokens=5, greedy=True) == [1] * 5
    gpt = tiny_gpt()
    assert generate(gpt, [1, 2, 3], max_new_tokens=12, greedy=True) == generate(
        gpt, [1, 2, 3], max_new_tokens=12, greedy=True
    )


def test_temperature_towards_zero_equals_greedy() -> None:
    gpt = tiny_gpt()
    greedy = generate(gpt, [4, 5], max_new_tokens=10, greedy=True)
    assert generate(gpt, [4, 5], max_new_tokens=10, temperature=0.0) == greedy
    assert generate(gpt, [4, 5], max_new_tokens=10, temperature=1e-4, seed=0) == greedy


def test_seed_makes_sampling_reproducible() -> None:
    gpt = tiny_gpt()
    a = generate(gpt, [7], max_new_tokens=20, temperature=1.5, seed=11)
    assert a == generate(gpt, [7], max_new_tokens=20, temperature=1.5, seed=11)
    assert a != generate(gpt, [7], max_new_tokens=20, temperature=1.5, seed=12)


def test_repetition_penalty_lowers_repeats() -> None:
    model = FixedLogits([3.0, 2.9, 2.8, 2.7, 2.6, 2.5])
    plain = generate(model, [5], max_new_tokens=6, greedy=True)
    penalized = generate(model, [5], max_new_tokens=6, greedy=True, repetition_penalty=2.0)
    assert plain == [0] * 6
    assert len(set(penalized)) > len(set(plain))
    assert penalized[:4] == [0, 1, 2, 3]  # each seen token drops below the next unseen one


def test_stops_at_eos_and_leaves_it_out() -> None:
    model = FixedLogits([0.0, 5.0, 1.0])
    assert generate(model, [0], max_new_tokens=10, greedy=True, eos_id=1) == []
    assert generate(model, [0], max_new_tokens=0) == []


@pytest.mark.parametrize("make", [tiny_gpt, tiny_lstm], ids=["gpt", "lstm"])
def test_cached_generation_equals_uncached(make) -> None:
    model = make()
    # 5 prompt tokens + 30 new ones run past the GPT's 16-token context: the sliding window is exercised too.
    cached = generate(model, [1, 2, 3, 4, 5], max_new_tokens=30, greedy=True)
    uncached = generate(model, [1, 2, 3, 4, 5], max_new_tokens=30, greedy=True, use_cache=False)
    assert cached == uncached and len(cached) == 30
    sampled = generate(model, [9], max_new_tokens=25, top_k=10, seed=5)
    assert sampled == generate(model, [9], max_new_tokens=25, top_k=10, seed=5, use_cache=False)


def test_generation_restores_training_mode() -> None:
    model = tiny_gpt().train()
    generate(model, [1], max_new_tokens=2)
    assert model.training


def test_bad_options_are_config_errors() -> None:
    model = FixedLogits([0.0, 1.0])
    for kw, field in [
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"temperature": -1.0}, "temperature"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        # `lmforge generate --temperature nan` parses as a float; NaN passed every `< 0` check
        ({"temperature": float("nan")}, "temperature"),
        ({"repetition_penalty": float("nan")}, "repetition_penalty"),
        ({"top_p": float("nan")}, "top_p"),
    ]:
        with pytest.raises(ConfigError, match=field):
            generate(model, [0], **kw)
    with pytest.raises(ConfigError, match="prompt"):
        generate(model, [], max_new_tokens=1)


def test_generate_text_with_a_real_tokenizer(tmp_path) -> None:
    shards = build(tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(shards.tokenizer))
    torch.manual_seed(0)
    model = build_model(ModelConfig(gpt=GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=32)), sp.vocab_size())
    text = generate_text(model, sp, "Return the", max_new_tokens=8, seed=0)
    assert isinstance(text, str)
    assert text == generate_text(model, sp, "Return the", max_new_tokens=8, seed=0)
    ids = generate(model, sp.encode("Return the"), max_new_tokens=8, seed=0, eos_id=sp.eos_id())
    assert sp.decode(sp.encode("Return the") + ids) == "Return the" + text
    assert isinstance(generate_text(model, sp, "", max_new_tokens=4, seed=0), str)  # starts from EOS


def test_a_prompt_that_spells_the_space_symbol_is_encoded_as_the_shards_were(tmp_path, monkeypatch) -> None:
    """The shards write a '▁' of the text as its byte pieces; the prompt was encoded with plain `encode`, which made
    it a space, so the model saw another text than the user typed."""
    from lmforge.pipeline.train import sample
    from tests.support.tiny_shards import train_tokenizer

    sp = spm.SentencePieceProcessor(model_file=str(train_tokenizer(tmp_path, vocab_size=400, lmforge_like=True)))
    seen = []
    monkeypatch.setattr(sample, "generate", lambda model, ids, **opts: seen.append(list(ids)) or [])
    generate_text(None, sp, "a\u2581b", max_new_tokens=1)
    assert sp.decode(seen[0]) == "a\u2581b"


def test_max_new_tokens_is_bounded_as_for_the_registered_model() -> None:
    """A checkpoint generated as many tokens as asked (the window slides past the context, so nothing stopped 10**12);
    the registered model refuses more than MAX_NEW_TOKENS, and `generate` now applies that same bound."""
    from lmforge.pipeline.registry.pyfunc import MAX_NEW_TOKENS

    assert MAX_NEW_TOKENS == 4096
    model = FixedLogits([0.0, 5.0, 1.0])
    with pytest.raises(ConfigError, match=r"max_new_tokens: must be at most 4096 \(MAX_NEW_TOKENS\), got 4097"):
        generate(model, [0], max_new_tokens=MAX_NEW_TOKENS + 1, greedy=True)
    assert generate(model, [0], max_new_tokens=MAX_NEW_TOKENS, greedy=True) == [1] * MAX_NEW_TOKENS


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_a_seed_outside_the_registered_models_range_is_refused(seed: int) -> None:
    """2**64 raised torch's bare "Overflow when unpacking long long"; -1 was taken as 2**64 - 1 (the registered model
    reads -1 as "no seed"). Seeds are [0, 2**63 - 1], as the registered model takes them."""
    with pytest.raises(ConfigError, match=rf"seed: must be an integer in \[0, 9223372036854775807\], got {seed}"):
        generate(FixedLogits([0.0, 1.0, 2.0]), [0], max_new_tokens=3, seed=seed)
    assert len(generate(FixedLogits([0.0, 1.0, 2.0]), [0], max_new_tokens=3, seed=2**63 - 1)) == 3
