"""Tokenizer and token shards: `train_tokenizer`, `load_tokenizer`, `tokenizer_report`, `build_shards`.

Re-exported lazily, so importing the configs (as `pipeline/config.py` does) does not load sentencepiece.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "train_tokenizer": "trainer",
    "load_tokenizer": "trainer",
    "tokenizer_report": "report",
    "report_markdown": "report",
    "build_shards": "shards",
    "plan_shards": "shards",
    "encode_unit": "shards",
    "assemble_shards": "shards",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
