"""Deduplication configuration: exact digests, MinHash signatures, LSH banding and the persisted index."""

from __future__ import annotations

from dataclasses import dataclass

from lmforge.pipeline.configuring import check
from lmforge.pipeline.urls import shown_url


@dataclass(kw_only=True, slots=True, frozen=True)
class DedupConfig:
    """How duplicates are found; every field that changes signatures is also stored in the index metadata."""

    enabled: bool = True
    """Remove exact and near duplicates during curation."""
    threshold: float = 0.8
    """Target Jaccard similarity of word 5-gram sets (Lee et al. 2022, "Deduplicating Training Data Makes Language
    Models Better", sec. 4.1, use 5-grams and 0.8); the LSH bands are tuned around it."""
    margin: float = 0.1
    """Pairs whose verified Jaccard is at least `threshold - margin` are duplicates too: it favours recall on light
    edits that fall just under the target, while distinct texts rarely share half their 5-grams."""
    num_perm: int = 128
    """MinHash permutations (datasketch's default); part of the index compatibility key."""
    seed: int = 1
    """Seed of the permutations (datasketch's default, so signatures equal `datasketch.MinHash(seed=1)`)."""
    word_ngram: int = 5
    """Shingle size in words for space-delimited languages; shorter documents get no shingles (exact dedup only)."""
    char_ngram: int = 5
    """Shingle size in characters for languages in `char_langs` (no spaces between words)."""
    char_langs: tuple[str, ...] = ("zh", "ja", "th", "lo", "km", "my")
    """`lang` codes shingled by characters instead of words: the languages written without spaces between words that
    the quality filters also count by characters (Korean spaces its words). A Thai or Khmer text split at spaces
    has a few phrase-long "words", too few for word shingles, so its near copies went unfound. A text mostly written
    in such a script is shingled by characters whatever its `lang` says (`dedup.shingles.unspaced_script`)."""
    bands: int = 0
    """LSH bands; 0 tunes (bands, rows) so a pair at `threshold - margin` becomes a candidate with `recall_target`."""
    rows: int = 0
    """LSH rows per band; 0 = tuned together with `bands`."""
    recall_target: float = 0.98
    """Probability that a pair at exactly `threshold - margin` shares a band (used when bands/rows are 0)."""
    index: str | None = None
    """Where earlier batches' signatures live: None = `<workspace>/dedup-index/`, or `redis://host:port/db`."""

    def __post_init__(self) -> None:
        check(0.0 < self.threshold <= 1.0, "dedup.threshold", "must be in (0, 1]")
        check(
            0.0 <= self.margin < self.threshold,
            "dedup.margin",
            f"must be in [0, threshold) = [0, {self.threshold:g}), got {self.margin:g}"
            + (
                ": near duplicates are pairs down to threshold - margin; with a threshold this low, set dedup.margin "
                "lower too"
                if self.margin >= self.threshold
                else ""
            ),
        )
        check(1 <= self.num_perm <= 1024, "dedup.num_perm", "must be in [1, 1024]")
        check(0 <= self.seed < 2**32, "dedup.seed", "must be in [0, 2**32)")
        check(self.word_ngram >= 1, "dedup.word_ngram", "must be at least 1")
        check(self.char_ngram >= 1, "dedup.char_ngram", "must be at least 1")
        check((self.bands == 0) == (self.rows == 0), "dedup.bands", "set bands and rows together (or both 0 to tune)")
        check(self.bands >= 0 and self.rows >= 0, "dedup.bands", "must not be negative")
        check(self.bands * self.rows <= self.num_perm, "dedup.bands", "bands * rows must not exceed num_perm")
        check(0.5 <= self.recall_target < 1.0, "dedup.recall_target", "must be in [0.5, 1)")
        check(
            not self.index or self.index.startswith(("redis://", "rediss://")),
            "dedup.index",
            f"must be empty (local index) or a redis:// URL, got {_shown(self.index or '')!r}",
        )

    @property
    def min_similarity(self) -> float:
        """The lowest verified Jaccard still called a near duplicate."""
        return self.threshold - self.margin


def _shown(url: str) -> str:
    """`url` with its password masked, for an error about it (one too malformed to parse is not shown at all)."""
    try:
        return shown_url(url)
    except ValueError:
        return "(a malformed URL)"
