"""The shipped multilingual sample (Chinese, English, German prose written for lmforge), read from package data.

Format of `data/multilingual-<lang>.txt`: documents separated by a header line `%%% <slug>`; everything up to
the next header is the document text. Plain text keeps the sample easy to read and to extend by hand.
"""

from __future__ import annotations

from importlib import resources
from itertools import zip_longest
from typing import Any

from lmforge.pipeline.errors import InputError

LANGS = ("zh", "en", "de")
HEADER = "%%% "
CREATED_AT = "2026-11-23T00:00:00+00:00"
"""The day the sample was written: fixed, so the records are byte-identical everywhere."""


def _parse(name: str, raw: str, lang: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    slug: str | None = None
    body: list[str] = []

    def flush() -> None:
        if slug is not None:
            text = "\n".join(body).strip() + "\n"
            docs.append(
                {
                    "id": f"multilingual/{lang}/{slug}",
                    "text": text,
                    "source": "multilingual",
                    "url": f"lmforge:corpus/data/{name}#{slug}",
                    "created_at": CREATED_AT,
                }
            )

    for number, line in enumerate(raw.splitlines(), 1):
        if line.startswith(HEADER):
            flush()
            slug, body = line[len(HEADER) :].strip(), []
            if not slug:
                raise InputError(name, "document header without a slug", line=number)
        elif slug is None and line.strip():
            raise InputError(name, f"text before the first '{HEADER.strip()} <slug>' header", line=number)
        else:
            body.append(line)
    flush()
    return docs


def multilingual_records() -> list[dict[str, Any]]:
    """All sample documents, languages interleaved (zh, en, de, zh, …) so a small cap still keeps all three."""
    data = resources.files("lmforge.pipeline.corpus") / "data"
    per_lang = []
    for lang in LANGS:
        name = f"multilingual-{lang}.txt"
        per_lang.append(_parse(name, (data / name).read_text(encoding="utf-8"), lang))
    return [doc for group in zip_longest(*per_lang) for doc in group if doc is not None]
