"""Documents made of the docstrings of one Python source file, read with `ast` (never imported).

Parsing instead of importing is what makes the default corpus safe and fast: nothing in site-packages runs,
optional dependencies need not be present, and a broken module only costs that one file.
"""

from __future__ import annotations

import ast
import inspect
import warnings
from pathlib import Path

MIN_DOCSTRING_CHARS = 200
"""Shorter class/function docstrings ("Return x.") are one-liners, not prose; the module docstring is always kept."""
MIN_DOCUMENT_CHARS = 200
"""A module whose kept docstrings add up to less than this yields no document."""
MAX_DOCUMENT_CHARS = 60_000
"""Larger modules are split at docstring boundaries so documents stay article-sized (typing.py, argparse.py …)."""
MAX_SOURCE_BYTES = 2_000_000
"""Generated source files beyond this size (unicode tables, vendored bundles) are skipped unread."""

_Scoped = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def _docstrings(tree: ast.Module) -> list[tuple[str, str]]:
    """`(qualified name, cleaned docstring)` in source order; the module's own docstring has the name ''."""
    found: list[tuple[str, str]] = []

    def visit(node: _Scoped, prefix: str) -> None:
        doc = ast.get_docstring(node, clean=False)
        if doc:
            text = inspect.cleandoc(doc).strip()
            if text and (not prefix and isinstance(node, ast.Module) or len(text) >= MIN_DOCSTRING_CHARS):
                found.append((prefix, text))
        for child in node.body:
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, f"{prefix}.{child.name}" if prefix else child.name)

    visit(tree, "")
    return found


def parse_docstrings(path: Path) -> list[tuple[str, str]]:
    """Docstrings of a source file; an unreadable, undecodable or unparsable file has none (it is not our input)."""
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return []
        source = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in old modules are not our concern
            tree = ast.parse(source, filename=str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return []
    return _docstrings(tree)


def module_documents(path: Path) -> list[str]:
    """One text per module (split when long): module docstring first, then `Name.method:` headed docstrings."""
    parts = [doc if not name else f"{name}:\n{doc}" for name, doc in parse_docstrings(path)]
    documents: list[str] = []
    current: list[str] = []
    size = 0
    for part in parts:
        if current and size + len(part) > MAX_DOCUMENT_CHARS:
            documents.append("\n\n".join(current))
            current, size = [], 0
        current.append(part)
        size += len(part) + 2
    if current:
        documents.append("\n\n".join(current))
    return [doc[:MAX_DOCUMENT_CHARS] for doc in documents if len(doc) >= MIN_DOCUMENT_CHARS]


def topic_documents(path: Path) -> list[tuple[str, str]]:
    """`(topic, text)` from the `topics = {...}` table of `pydoc_data/topics.py`: the language reference as prose."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            pairs = zip(node.value.keys, node.value.values, strict=True)
            return [
                (key.value, value.value.strip())
                for key, value in pairs
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant) and isinstance(value.value, str)
                if len(value.value.strip()) >= MIN_DOCUMENT_CHARS
            ]
    return []
