"""One error hierarchy for every stage (STYLE.md): messages say what, where, and what to do."""

from __future__ import annotations

from pathlib import Path


class LmforgeError(Exception):
    """Base of every error lmforge raises on purpose; the CLI prints it as one line."""


class ConfigError(LmforgeError):
    """A configuration value or file is wrong; the message names the field."""


class InputError(LmforgeError):
    """Bad input data: names the file and, where known, the line or row."""

    def __init__(self, path: str | Path, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # pickled with its fields, so it crosses process pools (Dask, build_shards) intact
        return (type(self), (self.path, self.reason, self.line))


class IntegrityError(LmforgeError):
    """Stored data does not match its manifest, header or digest."""


class NotFoundError(LmforgeError):
    """A stage output, id, model or alias that was asked for does not exist."""
