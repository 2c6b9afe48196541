"""Docstring documents are read with `ast`: kept, skipped and split as documented, and never imported."""

from __future__ import annotations

from pathlib import Path

from lmforge.pipeline.corpus import docstrings
from lmforge.pipeline.corpus.docstrings import module_documents, parse_docstrings, topic_documents

DATA = Path(__file__).parents[2] / "data" / "corpus"
TEXTKIT = DATA / "stdlib" / "textkit" / "__init__.py"


def test_module_docstring_then_long_class_and_function_docstrings():
    names = [name for name, _ in parse_docstrings(TEXTKIT)]
    assert names == ["", "Wrapper", "dedent"]  # "Return lines." is too short to keep


def test_document_has_headings_and_clean_indentation():
    (doc,) = module_documents(TEXTKIT)
    assert doc.startswith("Small helpers for wrapping")
    assert "\n\nWrapper:\nWrap paragraphs to a fixed width" in doc
    assert "\n\ndedent:\nRemove any common leading whitespace" in doc
    assert "\n    " not in doc  # inspect.cleandoc removed the source indentation


def test_the_module_is_parsed_not_imported():
    # textkit raises SystemExit at import time; reaching this line means it was only parsed.
    assert module_documents(TEXTKIT)


def test_unparsable_and_missing_files_yield_nothing(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text('"""' + "x" * 300 + '"""\ndef (:\n')
    assert module_documents(broken) == []
    assert module_documents(tmp_path / "missing.py") == []
    assert topic_documents(tmp_path / "missing.py") == []


def test_short_module_yields_no_document(tmp_path):
    short = tmp_path / "short.py"
    short.write_text('"""Tiny."""\n')
    assert module_documents(short) == []


def test_long_module_is_split_at_docstring_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(docstrings, "MAX_DOCUMENT_CHARS", 1_000)
    body = " ".join(["This sentence explains one more detail of the function."] * 8)
    src = '"""Module."""\n' + "".join(f'def f{i}():\n    """{body}"""\n' for i in range(6))
    path = tmp_path / "long.py"
    path.write_text(src)
    docs = module_documents(path)
    assert len(docs) > 1
    assert all(len(doc) <= 1_000 for doc in docs)
    assert sum(doc.count(":\nThis sentence") for doc in docs) == 6  # every docstring kept exactly once


def test_topics_table(tmp_path):
    path = tmp_path / "topics.py"
    text = "The assert statement is a convenient way to insert debugging assertions into a program. " * 3
    path.write_text(f"topics = {{'assert': {text!r}, 'tiny': 'too short'}}\n")
    assert topic_documents(path) == [("assert", text.strip())]
