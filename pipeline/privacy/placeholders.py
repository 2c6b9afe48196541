"""Typed placeholders that replace detected PII (DESIGN.md). The tokenizer reserves each as one token."""

from __future__ import annotations

import re

#: Detector type (as in `lmforge pii scan` output) → placeholder written into the text.
PLACEHOLDER_FOR_TYPE: dict[str, str] = {
    "EMAIL": "<EMAIL>",
    "PHONE": "<PHONE>",
    "IPV4": "<IP>",
    "IPV6": "<IP>",
    "CREDIT_CARD": "<CREDIT_CARD>",
    "IBAN": "<IBAN>",
    "US_SSN": "<SSN>",
    "CN_ID": "<ID_NUMBER>",
    "SECRET": "<SECRET>",
    "PERSON": "<PERSON>",
    "ADDRESS": "<ADDRESS>",
}

#: Every distinct placeholder, in a fixed order (tokenizer user-defined symbols are added in this order).
PLACEHOLDERS: tuple[str, ...] = tuple(dict.fromkeys(PLACEHOLDER_FOR_TYPE.values()))

#: Any placeholder, for later cleaning steps that must leave them whole (e.g. split text around matches).
PLACEHOLDER_RE: re.Pattern[str] = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
