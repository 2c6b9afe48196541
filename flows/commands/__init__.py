"""CLI command modules; each exposes a click command or group named `command`."""

from __future__ import annotations

from importlib import import_module

#: One entry per module in this folder (add yours here).
MODULES: tuple[str, ...] = (
    "run",
    "tokenizer",
    "shards",
    "curate",
    "train",
    "generate",
    "evaluate",
    "pii",
    "corpus",
    "backfill",
    "deploy",
    "register",
    "lineage",
)


def _load() -> list:
    commands = []
    for name in MODULES:
        cmd = import_module(f"{__name__}.{name}").command
        commands.extend(cmd if isinstance(cmd, list) else [cmd])
    return commands


COMMANDS = _load()
