"""Dedup stage: exact + MinHash near-duplicate removal, against the batch and a persisted index (local or Redis)."""

from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import DedupResult, find_duplicates
from lmforge.pipeline.dedup.index import DedupIndex, LocalIndex, open_index
from lmforge.pipeline.dedup.signatures import compute_signatures

__all__ = [
    "DedupConfig",
    "DedupIndex",
    "DedupResult",
    "LocalIndex",
    "compute_signatures",
    "find_duplicates",
    "open_index",
]
