"""Typed placeholders that replace detected PII (DESIGN.md). The tokenizer reserves each as one token."""

from __future__ import annotations

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
