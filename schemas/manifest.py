"""`manifest.json`: written last by every stage; its presence means the stage finished (DESIGN.md)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1

#: The stages that write manifests, and the format name each manifest carries.
FORMATS = ("lmforge.snapshot", "lmforge.tokenizer", "lmforge.shards", "lmforge.run", "lmforge.dedup-index")


@dataclass(kw_only=True, slots=True)
class FileEntry:
    """One file a stage wrote, relative to the stage folder."""

    path: str
    bytes: int
    sha256: str
    rows: int | None = None
    tokens: int | None = None


@dataclass(kw_only=True, slots=True)
class Manifest:
    """The lineage record of one stage output. Counts, ids and digests only: never text or PII."""

    format: str
    id: str
    created_at: str
    inputs: dict[str, Any]
    params: dict[str, Any]
    code_version: dict[str, Any]
    files: list[FileEntry] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "manifest") -> Manifest:
        from lmforge.pipeline.errors import IntegrityError

        if not isinstance(data, dict):  # valid JSON, but no manifest: a hand edit, another tool's file
            kind = {list: "array", str: "string", int: "number", float: "number", bool: "true/false"}
            raise IntegrityError(f"{where}: a JSON {kind.get(type(data), 'null')}, not a manifest (an object)")
        missing = {"format", "id", "created_at", "inputs", "params", "code_version"} - data.keys()
        if missing:
            raise IntegrityError(f"{where}: missing fields {sorted(missing)}")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise IntegrityError(
                f"{where}: format_version {version!r} is newer than this lmforge understands ({FORMAT_VERSION}); "
                "upgrade lmforge"
            )
        try:
            files = [FileEntry(**f) for f in data.get("files", [])]
        except TypeError as exc:  # not a list of objects, or an entry with a field missing or unknown
            raise IntegrityError(f"{where}: files is not a list of {{path, bytes, sha256, …}} entries ({exc})") from exc
        known = {k: data[k] for k in ("format", "id", "created_at", "inputs", "params", "code_version") if k in data}
        return cls(**known, files=files, stats=data.get("stats", {}), format_version=version)

    @classmethod
    def read(cls, folder: str | Path) -> Manifest:
        from lmforge.pipeline.errors import IntegrityError, NotFoundError

        path = Path(folder) / MANIFEST_NAME
        if not path.is_file():
            raise NotFoundError(f"{path}: no manifest (the stage did not finish, or the path is wrong)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"{path}: manifest is not valid JSON ({exc})") from exc
        return cls.from_dict(data, where=str(path))
