"""The work folder of a snapshot being curated, shared by every run of that snapshot, and when it may go.

Two runs of one snapshot (a schedule and a manual run, same inputs and config) share `snapshots/.work/<id>/`: each
writes its units there under temporary names of its own and renames them into place, and a unit one run finished
is reused by the other. The folder may only be removed once the snapshot is published and no run still reads from
it, so a run that finished first must not take away the parts another run is still computing signatures of.

Two kernel locks (flock) in the folder say so, and die with their process (a killed run never blocks anyone):

- `.users.lock`, shared by every process that curates units into the folder (`hold`, from its first unit until it
  finalizes: `release`) or a whole run (`using`). It is removed only under an exclusive lock that nobody else holds
  (`remove_unused`): otherwise the last run to finish removes it.
- `.publish.lock`, exclusive while a run finalizes (`publishing`): dedup, write, publish, add to the index. A run
  that waited for it finds the snapshot finished by the other and keeps it.

Publishing happens before any removal, and a published snapshot stays published: a run that finds the snapshot
unpublished while holding `.publish.lock` finds every file its units wrote still there.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

USERS, PUBLISH = ".users.lock", ".publish.lock"

_held: dict[str, int] = {}
"""This process's shared lock on `.users.lock` of each work folder it curates into (`hold`), by absolute path."""
_held_lock = threading.Lock()


def _lock(folder: Path, name: str, how: int) -> int | None:
    """An open descriptor of `folder/name` locked with `how` (the folder made if needed), or None with LOCK_NB when
    another process holds a conflicting lock. A lock won on a file that `remove_unused` deleted meanwhile is
    worthless (the next process locks a new file by that name): it is dropped and the lock taken again."""
    path = folder / name
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder was removed between the two calls
            continue
        try:
            fcntl.flock(fd, how)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        here = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (here.st_ino, here.st_dev):
            return fd
        os.close(fd)


def hold(work_dir: Path) -> None:
    """Mark this process as a user of `work_dir` until `release`: a run's tasks call it for each unit (once is
    enough), and the flow's signature tasks read the parts after the last unit, before the run finalizes."""
    key = os.path.abspath(work_dir)
    with _held_lock:
        if key not in _held:
            fd = _lock(Path(key), USERS, fcntl.LOCK_SH)
            assert fd is not None  # a blocking lock is always had
            _held[key] = fd


def release(work_dir: Path) -> None:
    """Drop this process's `hold` on `work_dir` (its run is finalizing: it needs none of the folder's files unless
    the snapshot is unpublished, and then nobody removed any)."""
    with _held_lock:
        fd = _held.pop(os.path.abspath(work_dir), None)
    if fd is not None:
        os.close(fd)


@contextmanager
def using(work_dir: Path) -> Iterator[None]:
    """Hold `work_dir` for one run (its own descriptor: another run in this process releases only its own)."""
    fd = _lock(Path(work_dir), USERS, fcntl.LOCK_SH)
    try:
        yield
    finally:
        os.close(fd)


@contextmanager
def publishing(work_dir: Path) -> Iterator[None]:
    """Finalize alone: a second run waits here, then finds the snapshot the first one published."""
    fd = _lock(Path(work_dir), PUBLISH, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def remove_unused(work_dir: Path) -> bool:
    """Remove the work folder of a published snapshot unless another run still uses it (that run removes it when it
    finishes); True when it is gone."""
    if not work_dir.is_dir():
        return True
    fd = _lock(work_dir, USERS, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if fd is None:
        log.info("%s: another run of this snapshot still uses it; that run removes it", work_dir)
        return False
    try:
        shutil.rmtree(work_dir, ignore_errors=True)
    finally:
        os.close(fd)
    return not work_dir.exists()
