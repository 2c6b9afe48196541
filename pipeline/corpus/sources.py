"""Where the default corpus comes from: sorted walks of the stdlib and site-packages, and one record maker per kind.

A walk only lists candidate files (cheap); reading and parsing happens in `records`, once a candidate is chosen,
so a small size cap never pays for parsing all of site-packages.
"""

from __future__ import annotations

import email.parser
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lmforge.pipeline.corpus.docstrings import MIN_DOCUMENT_CHARS, module_documents, topic_documents

Kind = Literal["python", "topics", "docfile", "metadata", "license"]

STDLIB_SKIP_DIRS = frozenset(
    {"test", "tests", "idlelib", "site-packages", "__pycache__", "lib-dynload", "turtledemo", "_bundled"}
)
"""Test suites and bundled wheels are not documentation; site-packages is walked separately."""
SITE_SKIP_DIRS = frozenset({"__pycache__", "test", "tests", "testing", "_testing", "node_modules", "static", "js"})
"""Test folders hold fixtures rather than prose; web assets are minified code."""
DOC_SUFFIXES = (".md", ".rst", ".txt")
LICENSE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS")
"""Licence and author files: the natural exact and near duplicates (vendored copies, shared licence texts)."""
METADATA_SKIP_NAMES = frozenset(
    {
        "entry_points.txt",
        "top_level.txt",
        "dependency_links.txt",
        "SOURCES.txt",
        "requires.txt",
        "namespace_packages.txt",
        "RECORD",
        "requirements.txt",
        "CMakeLists.txt",
    }
)
"""Machine-readable .txt files that would pass the suffix test but hold no prose."""
MAX_DOCFILE_BYTES = 200_000
"""Bigger README/.txt files in site-packages are data tables or changelogs of a thousand entries, not documents."""
METADATA_HEADERS = ("Name", "Version", "Summary", "Author", "Author-email", "Maintainer", "Maintainer-email")
"""Headers kept in a METADATA record: the description plus who wrote it — the author e-mails are real personal
data on purpose, so every later stage meets it (the privacy filter must redact it)."""

_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One file that may become records; `rel` is its path below its root, used for ids and urls."""

    source: str
    kind: Kind
    path: Path
    rel: str


def _utf8(name: str) -> bool:
    """A name that is not UTF-8 on disk (read back with surrogate escapes) cannot go into an id or a JSON line."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_regular(path: str) -> bool:
    """A plain file, not a symlink; a FIFO or socket named `README.md` would block or fail the read."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _walk(root: Path, skip_dirs: frozenset[str]) -> Iterator[tuple[str, str]]:
    """Regular files below `root` in sorted order (dirs and names), without following symlinks, pruning `skip_dirs`
    and names that are not UTF-8.

    Plain string paths on purpose: site-packages holds tens of thousands of files and pathlib costs seconds here.
    """
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not d.startswith(".") and _utf8(d))
        prefix = os.path.relpath(dirpath, top).replace(os.sep, "/") + "/" if dirpath != top else ""
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if _utf8(name) and _is_regular(full):
                yield full, prefix + name


def _is_license(name: str) -> bool:
    return name.upper().startswith(LICENSE_PREFIXES)


def stdlib_candidates(stdlib: Path) -> Iterator[Candidate]:
    """Every documentation-bearing .py module of the standard library."""
    for path, rel in _walk(stdlib, STDLIB_SKIP_DIRS):
        if rel == "pydoc_data/topics.py":
            yield Candidate("python-stdlib", "topics", Path(path), rel)
        elif rel.endswith(".py"):
            yield Candidate("python-stdlib", "python", Path(path), rel)


def site_candidates(site: Path) -> Iterator[Candidate]:
    """Docstrings and doc files of installed packages, their METADATA, and licence/author files."""
    for path, rel in _walk(site, SITE_SKIP_DIRS):
        top, name = rel.split("/", 1)[0], rel.rsplit("/", 1)[-1]
        in_metadata = top.endswith((".dist-info", ".egg-info"))
        if _is_license(name):
            yield Candidate("pkg-license", "license", Path(path), rel)
        elif in_metadata and name in ("METADATA", "PKG-INFO") and rel.count("/") == 1:
            yield Candidate("pkg-metadata", "metadata", Path(path), rel)
        elif in_metadata or name in METADATA_SKIP_NAMES:
            continue
        elif name.endswith(".py"):
            yield Candidate("pkg-docs", "python", Path(path), rel)
        elif name.lower().endswith(DOC_SUFFIXES) or name.upper().startswith("README"):
            yield Candidate("pkg-docs", "docfile", Path(path), rel)


def looks_like_prose(text: str) -> bool:
    """Mostly letters and spaces, several words per line: rules out word lists, CSV-like tables and encoded blobs."""
    if len(text) < MIN_DOCUMENT_CHARS:
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    lines = [line for line in text.splitlines() if line.strip()]
    words = sum(len(line.split()) for line in lines)
    return letters / len(text) >= 0.75 and words / max(len(lines), 1) >= 3.0


def _read_text(path: Path, max_bytes: int) -> str | None:
    """UTF-8 text of a small file, or None for big, binary or undecodable files (they are not documents)."""
    try:
        if path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
        if b"\x00" in data:
            return None
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _metadata_text(raw: str) -> str:
    """Selected headers, a blank line, then the long description (body, or the legacy `Description` header)."""
    msg = email.parser.Parser().parsestr(raw)
    head = [f"{key}: {msg[key]}" for key in METADATA_HEADERS if msg[key]]
    body = msg.get_payload()
    if not isinstance(body, str) or not body.strip():
        body = str(msg["Description"] or "")
    return "\n".join(head) + "\n\n" + body.strip() + "\n"


def _id_prefix(candidate: Candidate) -> tuple[str, str]:
    """`(id, url)`: path-like and free of machine paths (`stdlib/json/decoder.py`, `pkg:click/core.py`)."""
    if candidate.source == "python-stdlib":
        return f"stdlib/{candidate.rel}", f"stdlib:{candidate.rel}"
    return f"{candidate.source}/{candidate.rel}", f"pkg:{candidate.rel}"


def _record(rid: str, text: str, source: str, url: str) -> dict[str, Any]:
    """`created_at` stays empty: a file's mtime is its install time, not when the text was written, and would make
    two machines with the same package versions produce different corpora. A docstring may hold a lone surrogate
    (`"\\ud800"` in a non-raw string), which no UTF-8 line can: it becomes U+FFFD."""
    text = _SURROGATES.sub("\ufffd", text.removeprefix("\ufeff"))
    return {"id": rid, "text": text, "source": source, "url": url, "created_at": None}


def records(candidate: Candidate) -> list[dict[str, Any]]:
    """The corpus records made from one candidate file (none when it holds no usable prose)."""
    rid, url = _id_prefix(candidate)
    if candidate.kind == "topics":
        pairs = topic_documents(candidate.path)
        return [_record(f"{rid}:{topic}", text, candidate.source, f"{url}:{topic}") for topic, text in pairs]
    if candidate.kind == "python":
        texts = module_documents(candidate.path)
    elif candidate.kind == "metadata":
        raw = _read_text(candidate.path, 4 * MAX_DOCFILE_BYTES)
        texts = [text for text in ([_metadata_text(raw)] if raw else []) if len(text) >= MIN_DOCUMENT_CHARS]
    else:
        raw = _read_text(candidate.path, MAX_DOCFILE_BYTES)
        texts = [raw] if raw and looks_like_prose(raw) else []
    if len(texts) == 1:
        return [_record(rid, texts[0], candidate.source, url)]
    return [_record(f"{rid}#{i}", text, candidate.source, url) for i, text in enumerate(texts, 1)]
