"""The built-in default corpus: real human-written text that exists offline on every machine, no download.

It is the documentation of the running Python (stdlib docstrings) and of the installed packages (docstrings,
README/.md/.rst/.txt files, METADATA long descriptions with their author e-mails, licence files), plus a small
multilingual sample shipped in `data/` so CJK paths are exercised by default. It has natural exact and near
duplicates and real personal data, which is what the later stages are for.

Reproducibility: walks are sorted, candidates are chosen in the order of a hash of their id (a fixed
pseudo-random sample that spreads across the whole tree instead of taking the alphabetically first modules),
and each source fills its own share of the size cap, so the same environment gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmforge.pipeline.corpus.multilingual import multilingual_records
from lmforge.pipeline.corpus.sources import Candidate, records, site_candidates, stdlib_candidates
from lmforge.pipeline.errors import ConfigError, InputError

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = 16.0
"""Total size cap (1 MB = 10^6 bytes of JSONL): big enough for every stage to meet duplicates and PII, small
enough that the whole default pipeline runs in a few minutes on 2 cores."""
MIN_MAX_MB = 0.01
"""Smallest cap: below it even the sample's share is under `STOP_BELOW_BYTES` and the corpus would be empty."""
MULTILINGUAL_MAX_SHARE = 0.25
"""The shipped sample is always included in full unless the cap is tiny; then it takes at most this share."""
SHARES: tuple[tuple[str, float], ...] = (
    ("python-stdlib", 0.40),
    ("pkg-metadata", 0.15),
    ("pkg-license", 0.10),
    ("pkg-docs", 0.35),
)
"""How the rest of the cap is split, in fill order; a source that runs out of text passes its unused share on to
the next, and pkg-docs (by far the largest pool) comes last so the cap is filled."""
FILES = {"multilingual": "multilingual.jsonl", "python-stdlib": "stdlib.jsonl"}
"""Output file per source; every other source (pkg-docs, pkg-metadata, pkg-license) goes to `packages.jsonl`."""
PACKAGES_FILE = "packages.jsonl"
STOP_BELOW_BYTES = 2_000
"""A source stops looking for records once less than this is left of its share."""
MAX_BUDGET_BYTES = 10**15
"""A cap beyond all the text there is (1 PB) takes everything; clamping keeps `--max-mb 1e308` from overflowing."""
OWN_FILES = frozenset({"stdlib.jsonl", PACKAGES_FILE, "multilingual.jsonl"})
"""What a build writes: an --out holding only these (and hidden files, which curate skips) is rebuilt in place."""


@dataclass(frozen=True, slots=True)
class SourceStats:
    """What one source contributed: counts only."""

    source: str
    file: str
    records: int
    bytes: int


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def _hash_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """A fixed pseudo-random order: sha256 of the relative path, ties broken by the path."""
    return sorted(candidates, key=lambda c: (hashlib.sha256(c.rel.encode()).digest(), c.rel))


def _fill(lines: Iterator[tuple[str, bytes]], quota: int) -> list[tuple[str, bytes]]:
    """Take records in order while they fit into `quota` bytes; one too big is skipped, not a reason to stop."""
    chosen: list[tuple[str, bytes]] = []
    used = 0
    for rid, line in lines:
        if quota - used < STOP_BELOW_BYTES:
            break
        if used + len(line) <= quota:
            chosen.append((rid, line))
            used += len(line)
    return chosen


def _candidate_lines(candidates: list[Candidate]) -> Iterator[tuple[str, bytes]]:
    for candidate in candidates:
        for record in records(candidate):
            yield record["id"], _line(record)


def default_roots() -> tuple[Path, Path]:
    """The running interpreter's stdlib folder and its purelib site-packages (the active venv's)."""
    paths = sysconfig.get_paths()
    return Path(paths["stdlib"]), Path(paths["purelib"])


def _prepare_out(out_dir: Path) -> None:
    """A missing folder is made; an existing one may only hold an earlier build, because the folder is then curated
    as a whole and a stray file (notes, another corpus) would silently join the default corpus."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "exists and is not a folder; pass --out a folder path (it is created if missing)")
    if out_dir.is_dir():
        # `.tmp` files are an interrupted build's; hidden names (the run flow's `.complete` marker) curate skips.
        stray = sorted(
            entry.name
            for entry in out_dir.iterdir()
            if not entry.name.startswith(".") and entry.name.removesuffix(".tmp") not in OWN_FILES
        )
        if stray:
            shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
            raise InputError(
                out_dir,
                f"holds files that are not the default corpus ({shown}); they would be curated with it: "
                "pass --out an empty or new folder",
            )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(out_dir, f"cannot create the output folder ({exc.strerror}); choose a writable path") from exc


def _write(path: Path, lines: list[tuple[str, bytes]]) -> None:
    """Sorted by id so a reader finds a module where expected; written to a temp name, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            for _, line in sorted(lines):
                f.write(line)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(path, f"cannot write ({exc.strerror}); pass --out a writable folder") from exc


def build_default_corpus(
    out_dir: Path,
    *,
    max_mb: float = DEFAULT_MAX_MB,
    stdlib: Path | None = None,
    site_packages: Path | None = None,
) -> list[Path]:
    """Write `stdlib.jsonl`, `packages.jsonl` and `multilingual.jsonl` into `out_dir`; return their paths.

    Records are `{"id", "text", "source", "url", "created_at"}`. `stdlib`/`site_packages` default to the running
    interpreter's folders (tests may point them elsewhere).
    """
    if not (max_mb > 0 and math.isfinite(max_mb)):
        raise ConfigError(f"corpus.max_mb: must be a positive number of MB, got {max_mb}")
    if max_mb < MIN_MAX_MB:
        raise ConfigError(f"corpus.max_mb: {max_mb} MB holds no record; use at least {MIN_MAX_MB} MB")
    out_dir = Path(out_dir)
    _prepare_out(out_dir)
    default_stdlib, default_site = default_roots()
    stdlib, site_packages = stdlib or default_stdlib, site_packages or default_site
    budget = int(min(max_mb * 1_000_000, MAX_BUDGET_BYTES))

    multi = [(r["id"], _line(r)) for r in multilingual_records()]
    chosen: dict[str, list[tuple[str, bytes]]] = {
        "multilingual": _fill(iter(multi), int(budget * MULTILINGUAL_MAX_SHARE))
    }
    remaining = budget - sum(len(line) for _, line in chosen["multilingual"])

    site = list(site_candidates(site_packages)) if site_packages.is_dir() else []
    pools = {
        "python-stdlib": list(stdlib_candidates(stdlib)) if stdlib.is_dir() else [],
        **{name: [c for c in site if c.source == name] for name in ("pkg-docs", "pkg-metadata", "pkg-license")},
    }
    for i, (source, share) in enumerate(SHARES):
        quota = int(remaining * share / sum(s for _, s in SHARES[i:]))
        chosen[source] = _fill(_candidate_lines(_hash_order(pools[source])), quota)
        remaining -= sum(len(line) for _, line in chosen[source])
        log.debug(
            "corpus source %s: %d records from %d candidate files", source, len(chosen[source]), len(pools[source])
        )

    by_file: dict[str, list[tuple[str, bytes]]] = {}
    for source, lines in chosen.items():
        by_file.setdefault(FILES.get(source, PACKAGES_FILE), []).extend(lines)
    paths = []
    for name in ("stdlib.jsonl", PACKAGES_FILE, "multilingual.jsonl"):
        path = out_dir / name
        _write(path, by_file.get(name, []))
        paths.append(path)
    return paths


def corpus_stats(paths: Iterable[Path]) -> list[SourceStats]:
    """Records and bytes per (source, file) of written corpus files, for the CLI summary and the tests."""
    counts: dict[tuple[str, str], list[int]] = {}
    for path in paths:
        with open(path, "rb") as f:
            for line in f:
                source = json.loads(line)["source"]
                entry = counts.setdefault((source, path.name), [0, 0])
                entry[0] += 1
                entry[1] += len(line)
    return [SourceStats(source, file, n, size) for (source, file), (n, size) in sorted(counts.items())]
