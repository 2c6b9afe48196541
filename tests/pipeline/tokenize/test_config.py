from __future__ import annotations

import pytest

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.privacy.placeholders import PLACEHOLDERS
from lmforge.pipeline.tokenize.config import ShardsConfig, TokenizerConfig, reserved_pieces


def test_defaults_are_valid():
    assert TokenizerConfig().normalization == "identity"
    assert ShardsConfig().val_fraction == 0.05


def test_vocab_smaller_than_reserved_symbols_names_the_field():
    reserved = 4 + len(PLACEHOLDERS) + 256
    assert reserved_pieces(True) == reserved
    with pytest.raises(ConfigError, match=r"tokenizer\.vocab_size.*at least " + str(reserved + 1)):
        TokenizerConfig(vocab_size=reserved)
    TokenizerConfig(vocab_size=reserved + 1)
    TokenizerConfig(vocab_size=4 + len(PLACEHOLDERS) + 1, byte_fallback=False)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"model_type": "wordpiece"}, "model_type"),
        ({"normalization": "nfc"}, "normalization"),
        ({"heldout_fraction": 0.7}, "heldout_fraction"),
        ({"vocab_siz": 100}, "vocab_siz"),
        ({"vocab_size": "8k"}, "vocab_size"),
    ],
)
def test_bad_tokenizer_fields(data, field):
    with pytest.raises(ConfigError, match=field):
        from_dict(TokenizerConfig, data, "tokenizer")


@pytest.mark.parametrize(
    ("data", "field"), [({"val_fraction": 0.9}, "val_fraction"), ({"shard_tokens": 0}, "shard_tokens")]
)
def test_bad_shards_fields(data, field):
    with pytest.raises(ConfigError, match=field):
        from_dict(ShardsConfig, data, "shards")


def test_word_model_is_refused_since_it_cannot_keep_placeholders_whole():
    # sentencepiece's word model cuts text at whitespace before it looks for user-defined symbols: "x<EMAIL>y" went
    # to bytes and " <EMAIL>" to a learned "▁<EMAIL>" piece, never the reserved placeholder id (DESIGN.md)
    with pytest.raises(ConfigError, match=r"tokenizer\.model_type.*word.*placeholder"):
        TokenizerConfig(model_type="word")
    with pytest.raises(ConfigError, match=r"tokenizer\.model_type"):
        from_dict(TokenizerConfig, {"model_type": "word"}, "tokenizer")
