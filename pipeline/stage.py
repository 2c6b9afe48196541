"""Content-addressed, atomic stage outputs (DESIGN.md, "Contracts").

A stage's output lives in `<workspace>/<kind>/<id>/`, where `id` is the digest of its inputs, params and code
version. It is built in a temporary sibling folder and renamed into place after `manifest.json` is written, so a
folder with a manifest is always complete, and a re-run with the same id is a no-op.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmforge.pipeline.digest import code_version, digest, sha256_file
from lmforge.pipeline.errors import NotFoundError
from lmforge.schemas.manifest import MANIFEST_NAME, FileEntry, Manifest

log = logging.getLogger(__name__)

#: Folder names under the workspace, one per stage kind.
KINDS = ("snapshots", "tokenizers", "shards", "runs")
_ID_NAME = re.compile(r"[0-9A-Za-z_-]+")
"""What a stage folder's name can be: an id (`stage_id`'s hex digest). A copy the user made beside it (`<id>.bak`,
`<id> (copy)`, `<id>~`) is none."""


def stage_id(inputs: dict[str, Any], params: dict[str, Any]) -> str:
    """Id of a stage output: digest of inputs + params + package version (not the git sha, so commits that do not
    change the release keep cached outputs valid; the sha is still recorded in the manifest)."""
    return digest({"inputs": inputs, "params": params, "code": code_version()["package"]})


def stage_dir(workspace: str | Path, kind: str, id_: str) -> Path:
    return Path(workspace) / kind / id_


def is_done(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST_NAME).is_file()


def finished(root: Path) -> list[Path]:
    """The finished stage folders directly under `root`, by name. A build's temporary `.tmp-…` folder holds its
    manifest just before it is renamed (and for ever, when the process was killed right then): it is not an output,
    and an id it stood for would name nothing once renamed or swept. Nor is a folder whose name is no id, or whose
    manifest names another id: a user's backup copy (`<id>.bak`, `<id>-old`) was found by the id's prefix, or made
    it ambiguous."""
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if _ID_NAME.fullmatch(d.name) and d.is_dir() and is_done(d) and _own(d))


def _own(folder: Path) -> bool:
    """Whether the manifest in `folder` is of the stage the folder is named after. One that cannot be read counts
    (reading it later says what is wrong with it, rather than the stage being "not found")."""
    try:
        recorded = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8")).get("id")
    except (OSError, ValueError, AttributeError):
        return True
    if recorded == folder.name:
        return True
    log.debug("%s: its manifest is of stage %r, not %r (a copy?); not taken as a stage", folder, recorded, folder.name)
    return False


def find_stage(workspace: str | Path, kind: str, id_or_path: str) -> Path:
    """Resolve an id (or unique id prefix, or a path) to a finished stage folder, or raise a clear error."""
    if not id_or_path.strip():  # an empty prefix matches every id: `--shards "$UNSET"` took the only one there
        raise NotFoundError(f"empty {kind[:-1]} id; give the id (or a unique prefix of it, or its folder)")
    p = Path(id_or_path)
    if p.is_dir() and is_done(p):
        return p
    root = Path(workspace) / kind
    # By name, not glob: an absolute path is no glob pattern (a traceback), nor are `*` or `[` in an id a wildcard.
    candidates = [d for d in finished(root) if d.name.startswith(id_or_path)]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise NotFoundError(
            f"{kind} id prefix {id_or_path!r} is ambiguous under {root} (it matches "
            f"{', '.join(d.name for d in candidates)}): give more characters"
        )
    if p.is_file():
        where = f" (the folder {p.parent}?)" if is_done(p.parent) else ""
        raise NotFoundError(f"{p} is a file; give the {kind[:-1]} id or its folder{where}")
    known = ", ".join(d.name for d in finished(root))
    raise NotFoundError(
        f"no finished {kind[:-1]} {id_or_path!r} under {root}" + (f" (known: {known})" if known else "")
    )


def latest_stage(workspace: str | Path, kind: str) -> Path | None:
    """The most recently finished output of a kind, by manifest `created_at`."""
    done = finished(Path(workspace) / kind)
    return max(done, key=lambda d: Manifest.read(d).created_at) if done else None


def file_entries(folder: Path, counts: dict[str, dict[str, int]] | None = None) -> list[FileEntry]:
    """FileEntry for every file under `folder` (sorted, manifest excluded); `counts` adds rows/tokens per path."""
    counts = counts or {}
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        rel = path.relative_to(folder).as_posix()
        entries.append(FileEntry(path=rel, bytes=path.stat().st_size, sha256=sha256_file(path), **counts.get(rel, {})))
    return entries


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sweep_orphans(final: Path) -> None:
    """Remove temporary folders of `final` left by killed processes of this host (`building` names them
    `.tmp-<name>-<host>-<pid>-<random>`): a SIGKILL or a power cut runs no clean-up, and each such folder can hold
    the size of a whole stage. A folder of another host, or of a process still alive, is left alone."""
    prefix, host = f".tmp-{final.name}-", socket.gethostname()
    for path in final.parent.glob(glob.escape(prefix) + "*"):
        parts = path.name[len(prefix) :].rsplit("-", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit() or not path.is_dir():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _alive(pid):
            continue
        log.info("removing %s, left by process %d that no longer runs", path, pid)
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextmanager
def building(final: Path) -> Iterator[Path]:
    """Yield a temporary folder next to `final`; on success the caller has written the manifest into it and it is
    renamed to `final`. On error the temporary folder is removed. If another process finished `final` first, ours is
    discarded (same id means same content)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep_orphans(final)
    tmp = final.parent / f".tmp-{final.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if not is_done(tmp):
            raise RuntimeError(f"{tmp}: stage finished without writing {MANIFEST_NAME}")
        if final.exists() and not is_done(final):
            shutil.rmtree(final, ignore_errors=True)  # a leftover without manifest is an unfinished copy
        try:
            os.replace(tmp, final)
        except OSError:
            # Another process of the same stage renamed its copy into place between our check and our rename (a
            # folder cannot replace a non-empty one): that copy is as good as ours, so this build succeeded too.
            if not is_done(final):
                raise
            log.info("stage %s was finished concurrently; keeping the existing copy", final)
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(
    folder: Path,
    *,
    format: str,
    id_: str,
    inputs: dict[str, Any],
    params: dict[str, Any],
    stats: dict[str, Any],
    counts: dict[str, dict[str, int]] | None = None,
) -> Manifest:
    """Write `manifest.json` last, listing every file in `folder` with its size and sha256."""
    manifest = Manifest(
        format=format,
        id=id_,
        created_at=now_iso(),
        inputs=inputs,
        params=params,
        code_version=code_version(),
        files=file_entries(folder, counts),
        stats=stats,
    )
    tmp = folder / (MANIFEST_NAME + ".tmp")
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_NAME)
    return manifest


def verify_files(folder: str | Path) -> list[str]:
    """Re-hash every file a manifest lists; return one line per mismatch (empty list means intact)."""
    folder = Path(folder)
    manifest = Manifest.read(folder)
    problems = []
    for entry in manifest.files:
        path = folder / entry.path
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif (got := sha256_file(path)) != entry.sha256:
            problems.append(f"{path}: sha256 {got[:12]}… != manifest {entry.sha256[:12]}…")
    return problems
