"""Sampling text from a trained model: one function with every option, and a text-level wrapper.

The model only needs `model(idx) -> (logits, _)`; when it also offers `new_cache(batch)` / `decode(idx, cache)`
(both lmforge models do) the prompt is prefilled once and each new token costs one step: a KV cache for the GPT,
the carried (h, c) state for the LSTM.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Sequence
from typing import Any

import torch

from lmforge.pipeline.configuring import INT64_MAX
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.train.config import SAMPLE_TOKENS_MAX

MAX_NEW_TOKENS = SAMPLE_TOKENS_MAX
"""The most new tokens one `generate` call makes (4096, the registered model's bound too: `registry.pyfunc`). The
window slides past the context, so nothing else bounds a generation: a huge value held the process for good."""


def next_token_probs(
    logits: torch.Tensor,
    history: Sequence[int] = (),
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
) -> torch.Tensor:
    """Turn next-token logits (V,) into the probabilities (V,) to sample from, after every filter.

    Order: repetition penalty, temperature, top-k, then top-p (the order of Hugging Face's logits processors).
    """
    logits = logits.detach().float().clone()
    if repetition_penalty != 1.0 and len(history) > 0:
        # CTRL (Keskar et al. 2019, section 4.1): make every token already seen less likely; dividing a negative
        # logit would raise it, so those are multiplied instead.
        seen = torch.as_tensor(sorted(set(history)), dtype=torch.long, device=logits.device)
        vals = logits[seen]
        logits[seen] = torch.where(vals > 0, vals / repetition_penalty, vals * repetition_penalty)
    # Shift the largest logit to 0 before dividing (softmax does not change): the quotients then only fall, towards
    # -inf (probability 0), so a tiny temperature (1e-40) or huge logits cannot overflow to inf - inf = NaN. A
    # temperature below float32's smallest normal number would round to 0 (0 / 0 is NaN again); dividing by that
    # smallest instead already sends every logit below the largest to -inf or near it, which is all a smaller one does.
    logits = (logits - logits.max()) / max(temperature, torch.finfo(logits.dtype).tiny)
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        # Nucleus sampling (Holtzman et al. 2020): the smallest set of most likely tokens whose mass reaches top_p.
        sorted_probs, order = torch.sort(probs, descending=True)
        mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        drop = order[mass_before >= top_p]  # the first token always stays (mass before it is 0)
        probs[drop] = 0.0
        probs = probs / probs.sum()
    return probs


def _check_options(
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    repetition_penalty: float,
    seed: int | None = None,
) -> None:
    if max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens: must be ≥ 0, got {max_new_tokens}")
    if max_new_tokens > MAX_NEW_TOKENS:
        raise ConfigError(
            f"max_new_tokens: must be at most {MAX_NEW_TOKENS} (MAX_NEW_TOKENS), got {max_new_tokens}; generate in "
            "several calls, each continuing the last"
        )
    if not 0 <= temperature < math.inf:  # written so that NaN fails too; inf would sample uniformly (noise)
        raise ConfigError(f"temperature: must be finite and ≥ 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k: must be ≥ 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ConfigError(f"top_p: must be in (0, 1], got {top_p}")
    if not 0 < repetition_penalty < math.inf:
        raise ConfigError(f"repetition_penalty: must be > 0 (1 = off), got {repetition_penalty}")
    # torch took 2**64 with a bare "Overflow when unpacking long long", and wrapped a negative seed onto another one
    # (-1 drew what 2**64 - 1 draws); the registered model means "no seed" by -1 and refuses the rest as well
    if seed is not None and not 0 <= seed <= INT64_MAX:
        raise ConfigError(f"seed: must be an integer in [0, {INT64_MAX}], got {seed}")


def _check_ids(prompt: Sequence[int], eos_id: int | None, vocab: int | None) -> None:
    """Ids the model has no embedding for crashed it with a bare IndexError (a device-side assert on a GPU)."""
    if vocab is None:
        return
    for name, ids in (("prompt", prompt), ("eos_id", [] if eos_id is None else [eos_id])):
        bad = [t for t in ids if not 0 <= t < vocab]
        if bad:
            raise ConfigError(
                f"{name}: token id {bad[0]} is outside the model's vocabulary [0, {vocab}); use the tokenizer the "
                "model was trained with"
            )


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    prompt: Sequence[int],
    *,
    max_new_tokens: int = 64,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
    eos_id: int | None = None,
    use_cache: bool = True,
) -> list[int]:
    """Continue the token ids `prompt`; return the new ids (without the prompt, and without the EOS that stopped it).

    greedy (or temperature 0) takes the most likely token, after the repetition penalty; otherwise sample from
    `next_token_probs`. `seed` makes sampling reproducible (None: torch's global RNG). An empty prompt starts from
    `eos_id`, the separator the model saw before every document. Past the model's context length the window slides
    (the cache is rebuilt over the last `block_size` tokens), so cached and uncached runs give the same tokens.
    """
    _check_options(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed)
    ids = [int(t) for t in prompt]
    if not ids:
        if eos_id is None:
            raise ConfigError("prompt: empty, and no eos_id to start from; give at least one token")
        ids = [eos_id]
    _check_ids(ids if prompt else [], eos_id, getattr(model, "vocab_size", None))
    n_prompt = len(ids)
    greedy = greedy or temperature == 0
    device = next(model.parameters()).device
    generator = None
    if seed is not None and not greedy:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
    block = getattr(model, "block_size", None)
    cached = use_cache and hasattr(model, "decode")

    def window() -> torch.Tensor:
        return torch.tensor([ids[-block:] if block else ids], dtype=torch.long, device=device)  # (1, T)

    was_training = model.training
    model.eval()
    try:
        cache: Any = model.new_cache(1) if cached else None
        logits = model.decode(window(), cache) if cached else model(window())[0]
        for step in range(max_new_tokens):
            history = ids if repetition_penalty != 1.0 else ()
            if greedy:
                probs = next_token_probs(logits[0, -1], history, repetition_penalty=repetition_penalty)
                token = int(torch.argmax(probs))
            else:
                probs = next_token_probs(
                    logits[0, -1],
                    history,
                    temperature=temperature,
                    top_k=top_k,
                    top_p=top_p,
                    repetition_penalty=repetition_penalty,
                )
                token = int(torch.multinomial(probs, 1, generator=generator))
            if eos_id is not None and token == eos_id:
                break
            ids.append(token)
            if step == max_new_tokens - 1:
                break
            if not cached:
                logits = model(window())[0]
            elif block is not None and cache.pos >= block:
                cache.reset()  # context full: slide the window and prefill it again
                logits = model.decode(window(), cache)
            else:
                logits = model.decode(torch.tensor([[token]], dtype=torch.long, device=device), cache)
    finally:
        model.train(was_training)
    return ids[n_prompt:]


def generate_text(model: torch.nn.Module, sp: Any, prompt: str, **opts: Any) -> str:
    """Continue `prompt` with a sentencepiece tokenizer `sp`; returns only the continuation text.

    `opts` are `generate`'s keywords; `eos_id` defaults to the tokenizer's EOS, so generation stops at a
    document boundary.
    """
    from lmforge.pipeline.tokenize.trainer import encode_exact

    vocab = getattr(model, "vocab_size", None)
    if vocab is not None and sp.get_piece_size() != vocab:
        # a larger tokenizer crashed the model on its ids, a smaller one failed decoding the model's; both are
        # another tokenizer than the one the model was trained with
        raise ConfigError(
            f"tokenizer: {sp.get_piece_size()} pieces, but the model's vocabulary holds {vocab}: it is not the "
            "tokenizer the model was trained with; use that one"
        )
    # as the shards were written: a '▁' in the prompt stays one (plain `encode` makes it a space)
    prompt_ids = encode_exact(sp, [prompt])[0].tolist() if prompt else []
    if "eos_id" not in opts:
        opts["eos_id"] = sp.eos_id() if sp.eos_id() >= 0 else None
    new_ids = _whole_characters(sp, generate(model, prompt_ids, **opts))
    # Decode prompt and continuation together so the space at the seam survives (sentencepiece drops a leading
    # "▁" when a piece list starts with it), then cut the decoded prompt off.
    head = sp.decode(prompt_ids)
    full = sp.decode(prompt_ids + new_ids)
    return full[len(head) :] if full.startswith(head) else sp.decode(new_ids)


def _whole_characters(sp: Any, ids: list[int]) -> list[int]:
    """`ids` without the byte pieces at their end that begin a UTF-8 character but stop before its last byte.

    With byte fallback a character outside the vocabulary is its 2-4 byte pieces; generation cut by
    `max_new_tokens` (or an EOS) in the middle of one would decode to U+FFFD replacement characters at the end of
    the text. Invalid bytes elsewhere are the model's own output and stay (decoded as U+FFFD)."""
    k = len(ids)
    while k > 0 and len(ids) - k < 3 and sp.is_byte(ids[k - 1]):  # a character's last byte is at most 3 after its lead
        k -= 1
    tail = bytes(int(sp.id_to_piece(i)[1:-1], 16) for i in ids[k:])  # "<0xE2>" → 0xE2
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    decoder.decode(tail, final=False)
    pending = len(decoder.getstate()[0])  # bytes held back as the start of an unfinished character
    return ids[: len(ids) - pending]
