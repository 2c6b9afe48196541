"""Dedup stage: exact + MinHash near-duplicate removal, against the batch and a persisted index (local or Redis).

The names below load on first use (PEP 562): the run config imports `dedup.config`, and a curation worker that never
deduplicates should not pay for numpy, pyarrow.compute and the index code at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmforge.pipeline.dedup.config import DedupConfig
    from lmforge.pipeline.dedup.find import DedupResult, find_duplicates
    from lmforge.pipeline.dedup.index import DedupIndex, LocalIndex, check_index, open_index
    from lmforge.pipeline.dedup.signatures import compute_signatures

_HOME = {
    "DedupConfig": "config",
    "DedupIndex": "index",
    "DedupResult": "find",
    "LocalIndex": "index",
    "check_index": "index",
    "compute_signatures": "signatures",
    "find_duplicates": "find",
    "open_index": "index",
}
__all__ = [
    "DedupConfig",
    "DedupIndex",
    "DedupResult",
    "LocalIndex",
    "check_index",
    "compute_signatures",
    "find_duplicates",
    "open_index",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
