"""Digests over canonical bytes, and the code version that goes into every manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(obj: Any) -> bytes:
    """JSON with sorted keys and no spaces: the bytes every digest of a structure is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def digest(obj: Any, length: int = 16) -> str:
    """Short hex id of a JSON-able structure (16 hex = 64 bits; ids name folders, not secrets)."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()[:length]


@lru_cache(maxsize=1)
def code_version() -> dict[str, str | None]:
    """Package version and, when run from a git checkout, the commit sha (dirty flag included)."""
    from lmforge import __version__

    root = Path(__file__).resolve().parent.parent
    sha = None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
        if out.returncode == 0:
            sha = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"package": __version__, "git_sha": sha}
