"""Turn the user's INPUT arguments into units of work: one per record file, one per folder of text files."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from lmforge.pipeline.digest import digest, sha256_file
from lmforge.pipeline.errors import InputError

if TYPE_CHECKING:
    from lmforge.pipeline.privacy import Redactor

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".ndjson.gz", ".ndjson.zst")
PARQUET_SUFFIXES = (".parquet",)


@dataclass(frozen=True, slots=True)
class InputUnit:
    """One task's worth of input. `kind` is jsonl | parquet | textdir | text | unknown | empty_dir | bad_name |
    special (a FIFO, socket or device: reading one could block forever, so it is a reject, never opened)."""

    kind: str
    path: str
    source: str
    files: tuple[str, ...] = field(default=())
    key: str | None = None
    """Where a file unit is (`file_key`), which names its records that have no id of their own; None for a text
    folder, whose files are named inside it."""

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "path": self.path, "source": self.source, "files": list(self.files)}
        return out | ({"key": self.key} if self.key is not None else {})

    @classmethod
    def from_dict(cls, d: dict) -> InputUnit:
        files = tuple(d.get("files", ()))
        return cls(kind=d["kind"], path=d["path"], source=d["source"], files=files, key=d.get("key"))


def file_key(path: str | Path, folder: str | Path | None = None) -> str:
    """`<folder name>/<path inside it>` of a file: inside the input `folder` it was found in (`in/siteA/2024/data.jsonl`
    and `in/siteB/2024/data.jsonl` are two files), else inside the folder holding it (`2024-01-01/data.jsonl`: daily
    partitions keep their file names). From absolute paths, so `data.jsonl` and `/corpus/2024-01-01/data.jsonl` are
    one file, and moving the whole tree changes nothing."""
    path = os.path.abspath(path)
    folder = os.path.abspath(folder) if folder is not None else os.path.dirname(path)
    return Path(os.path.basename(folder), os.path.relpath(path, folder)).as_posix()


def kind_of(path: Path, text_extensions: tuple[str, ...]) -> str:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if path.suffix.lower() in text_extensions:
        return "text"
    return "unknown"


#: Files that Hadoop, Spark and Hive jobs leave beside the data of an output folder, which their own readers skip:
#: the commit markers (`_SUCCESS`, Databricks' `_committed_…`/`_started_…`) and a Parquet dataset's summaries
#: (`_metadata`, `_common_metadata`, footers without rows). Curating a partition that a Spark job wrote would
#: otherwise reject them as unknown formats, and a marker rewritten by a re-run job would change the snapshot id.
_JOB_MARKERS = frozenset(["_SUCCESS", "_metadata", "_common_metadata"])
_JOB_MARKER_PREFIXES = ("_committed_", "_started_")


def job_marker(name: str) -> bool:
    """Whether a file found in an input folder is a job's marker or dataset summary (`_JOB_MARKERS`), not data."""
    return name in _JOB_MARKERS or name.startswith(_JOB_MARKER_PREFIXES)


def _split_named(arg: str) -> tuple[str | None, Path]:
    """`NAME=PATH` names the source; a bare PATH takes its name from the file or folder."""
    if "=" in arg and not Path(arg).exists():
        name, _, p = arg.partition("=")
        if "/" not in name:
            if name.strip() in ("", ".", ".."):
                raise InputError(arg, "NAME=PATH needs a source name before '='")
            if not p:  # Path("") is the current folder: never curate that by accident
                raise InputError(arg, "NAME=PATH needs a path after '='")
            return name, Path(p)
    return None, Path(arg)


def shown_path(path: str | Path) -> str | None:
    """None when `path` is valid UTF-8. Else (a Latin-1 name from an old archive, which Python holds with lone
    surrogates that no manifest, Prefect parameter or Parquet column can store) the path with those bytes escaped,
    `caf\\xe9.txt`: it names the file for the user, and the unit (`bad_name`) becomes an `unreadable` reject."""
    try:
        str(path).encode("utf-8")
        return None
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def path_of_shown(shown: str | Path) -> Path:
    """The file a `shown_path` display name stands for: its `\\xNN` escapes turned back into the bytes."""
    raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), os.fsencode(str(shown)))
    return Path(os.fsdecode(raw))


def source_name(path: Path, *, file: bool = False) -> str:
    """The source a file or folder names: its name without the format's suffixes. `.` and `..` (and a path ending
    in them) have no name of their own: the folder they stand for names it, as no source may be empty. A `file`
    also loses any other last extension (`README.md` is source `README`, as `README.jsonl` is); a folder keeps its
    whole name, whose dots are seldom an extension (`v1.2`, `example.org`)."""
    name = path.name
    if name in ("", ".", ".."):
        name = Path(os.path.abspath(path)).name or "input"  # abspath: `..` resolved as the shell would show it
    for suffix in JSONL_SUFFIXES + PARQUET_SUFFIXES + (".gz", ".zst", ".txt"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    if file and (stem := Path(name).stem) and stem != name:
        return stem
    return name


def plan_inputs(args: list[str], text_extensions: list[str], *, warn: bool = True) -> list[InputUnit]:
    """Expand INPUT arguments into units, sorted by `location` for determinism. A missing path is an InputError (nothing to do);
    files with unknown formats and folders with no matching files become units that only produce rejects. `warn`:
    log a file named more than once (off where a run plans its inputs again, so it is said once per run). A file or
    folder named on its own and inside a named folder too is read once, as the more specific input."""
    exts = tuple(e.lower() for e in text_extensions)
    units: list[InputUnit] = []
    if not args:
        raise InputError("<inputs>", "no input paths given")
    named = [_split_named(arg) for arg in args]
    for _, path in named:
        if not path.exists() and not path.is_symlink():
            raise InputError(path, "input path does not exist")
    # `lmforge curate docs docs/api`: docs/api (or a file in docs) is an input of its own, and a walk of docs leaves
    # it to that naming, so its files are read once, under the source the user gave them specifically; the other
    # way round each would be read twice, under two sources (ids that dedup cannot tell are the same document).
    claimed = {os.path.realpath(path): str(path) for _, path in named}
    for name, path in named:
        dangling = path.is_symlink() and not path.exists()
        shown = shown_path(path)
        if shown is not None and (path.is_file() or dangling):
            src = name or source_name(Path(shown), file=True)
            units.append(InputUnit("bad_name", shown, src, key=file_key(shown)))
            continue
        if path.is_file() or dangling:  # a dangling link is read like a file and reported as unreadable
            src = name or source_name(path, file=True)
            units.append(InputUnit(kind_of(path, exts), str(path), src, key=file_key(path)))
            continue
        if not path.is_dir():
            units.append(InputUnit("special", str(path), name or source_name(path, file=True), key=file_key(path)))
            continue
        src = name or source_name(Path(shown or path))
        others = {real: arg for real, arg in claimed.items() if real != os.path.realpath(path)}  # not itself
        text_files: list[str] = []
        found_any = False
        walked: set[str] = set()  # real paths of the folders walked: a link back up (a loop) is not walked again
        unlisted: list[OSError] = []  # folders that cannot be listed (permission denied), which `os.walk` skips
        # Links to folders are followed (`current -> 2024-05` holds documents as a real folder does), each real
        # folder once.
        for root, dirs, files in os.walk(path, onerror=unlisted.append, followlinks=True):
            real = os.path.realpath(root)
            if real in walked:
                if warn:
                    log.warning("%s: a link to a folder already read (%s); read once", root, real)
                dirs[:] = []
                continue
            walked.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _loops(root, d, real, warn))
            for d in list(dirs):
                if (owner := _named_elsewhere(real, root, d, others)) is not None:
                    found_any = True  # not an empty folder: what it holds is read, under the other input
                    dirs.remove(d)
                    if warn:
                        log.warning("%s: also named as an input of its own (%s); read there", Path(root) / d, owner)
            for fname in sorted(files):
                if fname.startswith(".") or job_marker(fname):
                    continue
                f = Path(root) / fname
                found_any = True
                if (owner := _named_elsewhere(real, root, fname, others)) is not None:
                    if warn:
                        log.warning("%s: also named as an input of its own (%s); read there", f, owner)
                    continue
                if (bad := shown_path(f)) is not None:
                    units.append(InputUnit("bad_name", bad, src, key=file_key(bad, path)))
                    continue
                k = kind_of(f, exts) if f.is_file() or not f.exists() else "special"
                if k == "text":
                    text_files.append(str(f))
                else:
                    units.append(InputUnit(k, str(f), src, key=file_key(f, path)))
        for exc in unlisted:  # a member of the text folder, which the reader reports as unreadable with the reason
            found_any = True
            text_files.append(str(exc.filename or path))
        if text_files:
            units.append(InputUnit("textdir", str(path), src, tuple(text_files)))
        if not found_any:
            units.append(InputUnit("empty_dir", str(path), src))
    units = _distinct_keys(_read_once(units, warn))
    return sorted(units, key=lambda u: (location(u), u.kind, os.path.abspath(u.path)))


def _distinct_keys(units: list[InputUnit]) -> list[InputUnit]:
    """Files of one source whose keys are equal though they are other files (`/crawlA/2024-01-01/data.jsonl` and
    `/crawlB/2024-01-01/data.jsonl`) get keys one folder longer, until they differ: their records without an id
    took the same ids, and every one of the second file was rejected as `duplicate_doc_id`. The keys of files
    that clash with none stay as they are, so their ids do too."""
    while True:
        named: dict[tuple[str, str], list[int]] = {}
        for i, unit in enumerate(units):
            if unit.key is not None:
                named.setdefault((unit.source, unit.key), []).append(i)
        longer = {
            i: _one_folder_more(units[i])
            for clash in named.values()
            if len({os.path.abspath(units[i].path) for i in clash}) > 1
            for i in clash
        }
        longer = {i: key for i, key in longer.items() if key != units[i].key}
        if not longer:
            return units
        units = [replace(u, key=longer[i]) if i in longer else u for i, u in enumerate(units)]


def _one_folder_more(unit: InputUnit) -> str:
    """`unit.key` with the name of the folder above it in front (the key is the end of the unit's absolute path)."""
    parts = Path(os.path.abspath(unit.path)).parts
    depth = len(Path(unit.key or "").parts)
    return Path(*parts[-(depth + 1) :]).as_posix() if depth < len(parts) - 1 else unit.key or ""


def location(unit: InputUnit) -> str:
    """Where a unit is, whatever way its path was typed: its `key` (`file_key`), or for a folder its name. Units are
    ordered by it (which copy of a doc_id is kept, and which of two duplicates, follow that order), and reject rows
    name their input by it: `./in/a.jsonl` and `/abs/in/a.jsonl` are one snapshot id, so must be one snapshot."""
    if unit.key is not None:
        return unit.key
    return file_key(unit.path, unit.path) if unit.kind in ("textdir", "empty_dir") else file_key(unit.path)


def _loops(root: str, name: str, real_root: str, warn: bool) -> bool:
    """Whether entry `name` of folder `root` (real path `real_root`) is a link to that folder or one above it: a loop,
    never followed. Walked, a link to the folder above the input (`up -> ..`) read that folder's other files and
    folders, outside the input, as documents of its source; `walked` only stops a folder from being read twice."""
    full = os.path.join(root, name)
    if not os.path.islink(full):
        return False
    target = os.path.realpath(full)
    if real_root != target and not real_root.startswith(target.rstrip(os.sep) + os.sep):
        return False
    if warn:
        log.warning("%s: a link to a folder that holds it (%s), a loop; not followed", full, target)
    return True


def _named_elsewhere(real_root: str, root: str, name: str, others: dict[str, str]) -> str | None:
    """The other input argument that names entry `name` of folder `root` (whose real path is `real_root`), or None.
    The entry's real path is that of its folder joined to its name unless it is a link: one `lstat`, not a
    `realpath` of every file of a large folder, and none at all where no other input is named."""
    if not others:
        return None
    full = os.path.join(root, name)
    return others.get(os.path.realpath(full) if os.path.islink(full) else os.path.join(real_root, name))


def _read_once(units: list[InputUnit], warn: bool) -> list[InputUnit]:
    """Drop a record file named again (`a.jsonl ./a.jsonl`, a link to it): one file is one input, not copies of its
    records that dedup would then report as duplicate ids. The first naming keeps it. (A folder holding a file named
    on its own leaves it out when walked: `plan_inputs`.)"""
    seen: set[str] = set()
    out = []
    for unit in units:
        if unit.kind in ("jsonl", "parquet", "text", "textdir", "empty_dir"):  # a folder named twice too
            real = os.path.realpath(unit.path) + ("/" if unit.kind in ("textdir", "empty_dir") else "")
            if real in seen:
                if warn:
                    log.warning("%s: named more than once; read once", unit.path)
                continue
            seen.add(real)
        out.append(unit)
    return out


@lru_cache(maxsize=4096)
def safe_name(name: str) -> str:
    """`name` (a source name or a path) as a manifest may hold it: as it is, or, when the privacy filter (its default
    settings) finds personal data in it, redacted with a digest of the original, `<EMAIL>~1f0c6a2e`, the form curation
    gives such a source in the snapshot's rows (`UnitCurator.safe_source`). `--input jane@example.org=data.jsonl`
    or a folder named after a person's address must not reach the lineage (manifests are MLflow artifacts). A safe
    name is its own safe name, so a manifest's units can be digested again (`unit_digest`, lineage's verify)."""
    return redacted_name(name, _default_redactor()) or name


def redacted_name(name: str, redactor: Redactor) -> str | None:
    """`name` redacted by `redactor` with a digest of the original appended (`<EMAIL>~1f0c6a2e`: two such names stay
    apart), or None when it holds no personal data."""
    from lmforge.pipeline.curate.clean import fix_surrogates

    redacted = redactor.redact(fix_surrogates(name))
    if not redacted.counts:
        return None
    return f"{redacted.text}~{hashlib.blake2b(name.encode('utf-8', 'surrogatepass'), digest_size=4).hexdigest()}"


@lru_cache(maxsize=1)
def _default_redactor() -> Redactor:
    from lmforge.pipeline.privacy import Redactor

    return Redactor()


def unit_digest(unit: InputUnit) -> str:
    """Digest of a unit's bytes (file sha256, or the sorted list of member digests for a text folder). Its source
    (and the path of a unit nothing is read from) enter as their `safe_name`: the manifest records only those, and
    a unit recomputed from the manifest must have the same digest."""
    source = safe_name(unit.source)
    try:
        if unit.kind == "textdir":
            members = [(os.path.relpath(f, unit.path), _member_digest(f)) for f in unit.files]
            return digest({"kind": unit.kind, "source": source, "members": members}, length=64)
        if unit.kind in ("empty_dir", "bad_name", "special"):  # nothing read: the digest is of the path as given
            return digest({"kind": unit.kind, "path": safe_name(unit.path), "source": source}, length=64)
        return digest({"kind": unit.kind, "source": source, "sha256": sha256_file(unit.path)}, length=64)
    except OSError as exc:
        # Unreadable input: its digest is of the path, and reading it yields a reject with the OS error.
        return digest({"kind": unit.kind, "path": unit.path, "error": type(exc).__name__}, length=64)


def _member_digest(path: str) -> str:
    """A text folder member's sha256, or its OS error's name: one unreadable file (or subfolder) must not make the
    folder's digest one of its path alone, which the other files' edits would then never change."""
    try:
        return sha256_file(path)
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"
