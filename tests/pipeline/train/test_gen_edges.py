"""Sampling at its edges: temperatures near zero, huge logits, and text cut inside a multi-byte character."""

from __future__ import annotations

import pytest
import sentencepiece as spm
import torch

from lmforge.pipeline.train.sample import generate, generate_text, next_token_probs
from tests.pipeline.train.test_sample import FixedLogits
from tests.support.tiny_shards import train_tokenizer


class Successor(torch.nn.Module):
    """A crafted 'model' whose most likely next token is `successor[last token]`, so greedy decoding spells a
    chosen id sequence."""

    def __init__(self, vocab: int, successor: dict[int, int]) -> None:
        super().__init__()
        table = torch.zeros(vocab, vocab)
        for prev, nxt in successor.items():
            table[prev, nxt] = 10.0
        self.table = torch.nn.Parameter(table)
        self.block_size = None

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        return self.table[idx], None  # (B, T, V)


@pytest.mark.parametrize("temperature", [1e-8, 1e-30, 1e-40, 5e-324])
def test_a_tiny_temperature_samples_the_argmax_instead_of_nan(temperature: float) -> None:
    """logits / 1e-40 overflowed float32 to inf, and softmax of inf is NaN: multinomial then raised."""
    model = FixedLogits([1.0, 5.0, 3.0, -2.0])
    probs = next_token_probs(model.logits, temperature=temperature)
    assert probs.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert generate(model, [0], max_new_tokens=5, temperature=temperature, seed=0) == [1] * 5


def test_huge_logits_below_temperature_one_keep_a_distribution() -> None:
    probs = next_token_probs(torch.tensor([3e38, 3e38, 1.0]), temperature=0.5)
    assert probs.tolist() == [0.5, 0.5, 0.0]


def test_top_k_larger_than_the_vocabulary_and_top_p_one_change_nothing() -> None:
    logits = torch.tensor([1.0, 5.0, 3.0, -2.0])
    plain = next_token_probs(logits)
    torch.testing.assert_close(next_token_probs(logits, top_k=10, top_p=1.0), plain)
    torch.testing.assert_close(plain, torch.softmax(logits, dim=-1))


@pytest.fixture(scope="module")
def byte_sp(tmp_path_factory) -> spm.SentencePieceProcessor:
    folder = tmp_path_factory.mktemp("tok")
    return spm.SentencePieceProcessor(model_file=str(train_tokenizer(folder, vocab_size=400, lmforge_like=True)))


@pytest.mark.parametrize("max_new_tokens", [4, 5])
def test_text_cut_inside_a_character_ends_at_the_last_whole_one(byte_sp, max_new_tokens: int) -> None:
    """'→' is not in the vocabulary: it is the byte pieces <0xE2><0x86><0x92>. A continuation cut after 4 or 5 of the
    looping bytes ended in U+FFFD replacement characters for the unfinished second arrow."""
    arrow = [byte_sp.piece_to_id(f"<0x{b:02X}>") for b in "→".encode()]
    assert all(byte_sp.is_byte(i) for i in arrow)
    start = byte_sp.encode("a", out_type=int)[-1]
    model = Successor(
        byte_sp.vocab_size(), {start: arrow[0], arrow[0]: arrow[1], arrow[1]: arrow[2], arrow[2]: arrow[0]}
    )
    text = generate_text(model, byte_sp, "a", max_new_tokens=max_new_tokens, greedy=True)
    assert text == "→"
    assert generate_text(model, byte_sp, "a", max_new_tokens=6, greedy=True) == "→→"
    assert generate_text(model, byte_sp, "a", max_new_tokens=2, greedy=True) == ""


@pytest.mark.parametrize("options", [{"temperature": float("inf")}, {"repetition_penalty": float("inf")}])
def test_infinite_temperature_or_penalty_is_refused(options):
    """temperature=inf was accepted and sampled every token alike (noise); an infinite penalty zeroed every logit
    the prompt held."""
    from lmforge.pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(options))):
        generate(FixedLogits([0.0, 1.0, 2.0]), [0], max_new_tokens=2, **options)
