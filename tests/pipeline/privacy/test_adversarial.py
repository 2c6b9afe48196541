"""Inputs built to make regexes backtrack: each must finish (pytest-timeout), not be fast (timing is bench/'s job)."""

from __future__ import annotations

import pytest

from lmforge.pipeline.privacy import Redactor, scan

N = 1_000_000

ADVERSARIAL = {
    "letters": "a" * N,
    "digits": "1" * N,
    "at_signs": "@" * N,
    "local_at": "a@" * (N // 2),
    "digit_dash": "1-" * (N // 2),
    "digit_space": "1 " * (N // 2),
    "digit_dot": "1." * (N // 2),
    "hex_colon": "a:" * (N // 2),
    "colons": ":" * N,
    "plus_digit": "+1" * (N // 2),
    "jwt_prefix": "eyJ" * (N // 3),
    "aws_prefix": "AKIA" * (N // 4),
    "keyword_assign": "key=" * (N // 4),
    "password_run": "password=" + "x" * N,
    "key_headers": "-----BEGIN RSA PRIVATE KEY-----" * (N // 31),
    "obfuscated_at": "x [at] " * (N // 7),
    "iban_prefix": "DE89" * (N // 4),
    "paren_zero": "(0" * (N // 2),
    "mixed": "x9@Z-1.:+ " * (N // 10),
    "surrogates": "\ud800" * N,
    "cjk": "测试" * (N // 2),
    "ipv4_like": "1.1.1.1." * (N // 8),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_input_finishes(name: str) -> None:
    spans = scan(ADVERSARIAL[name])
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_50_mb_line_without_spaces_finishes_and_still_finds_the_needle() -> None:
    text = "x" * 50_000_000 + " reach me at needle@example.com"
    result = Redactor().redact(text)
    assert result.counts == {"EMAIL": 1}
    assert result.text.endswith("reach me at <EMAIL>")


@pytest.mark.timeout(60)
def test_dense_real_pii_is_linear_enough() -> None:
    text = "mail a@b.cc and call +49 30 90182736; " * 20_000
    result = Redactor().redact(text)
    assert result.counts == {"EMAIL": 20_000, "PHONE": 20_000}
