"""Forms the filter used to let through (quoted local parts, `-at-`/`_at_`, escaped dots, `@localhost`, keyword-less
provider tokens, trunk-prefixed national phones), each beside the look-alikes that must stay as they are."""

from __future__ import annotations

import pytest

from lmforge.pipeline.privacy import Redactor, scan
from lmforge.pipeline.privacy.scanner import scan_reference
from tests.pipeline.privacy.test_detectors import _found


def redact(text: str) -> str:
    return Redactor().redact(text).text


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ('Write to "john doe"@example.com today.', '"john doe"@example.com'),
        ('Write to "john.doe"@example.com today.', '"john.doe"@example.com'),
        ('say "hi" to "jane q. public"@mail.example.org', '"jane q. public"@mail.example.org'),
        ('{"to": "\\"john doe\\"@example.com"}', '"john doe\\"@example.com'),
    ],
)
def test_an_address_with_a_quoted_local_part_is_found(text: str, address: str) -> None:
    assert _found(text) == [(address, "EMAIL")]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("mail jane[.]doe[at]example[.]org", "mail <EMAIL>"),
        ("mail jane.doe -at- example.org now", "mail <EMAIL> now"),
        ("mail jane -AT- example.org now", "mail <EMAIL> now"),
        ("mail jane_at_example.org now", "mail <EMAIL> now"),
        ("mail jane.doe_at_mail.example.co.uk", "mail <EMAIL>"),
        ("mail jane%2Edoe%40example.com now", "mail <EMAIL> now"),
        ("mail jane%2edoe%40example%2Ecom now", "mail <EMAIL> now"),
        ("mail jane%2Edoe@example%2Ecom now", "mail <EMAIL> now"),
        ("mail jane&#46;doe&#64;example&#46;com now", "mail <EMAIL> now"),
        ("mail jane&#x2E;doe&#x40;example&#x2e;com now", "mail <EMAIL> now"),
        ("mail jane&#46;doe@example&#46;com now", "mail <EMAIL> now"),
    ],
)
def test_obfuscated_and_escaped_addresses_are_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "row.created_at_example",
        "created_at_example = 1",
        "ts = obj.created_at_time.isoformat()",
        "x = row.updated_at_utc.date",
        "look-at-me.png",
        "state-of-the-art-at-scale.html",
        "see the numpy.ndarray at numpy.org",
        "the pandas.DataFrame at pandas.pydata.org",
        "50%2E5",
    ],
)
def test_look_alikes_of_the_obfuscated_forms_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("jane.doe at example.org", "<EMAIL>"),
        ("> Cc: python-dev at python.org", "> Cc: <EMAIL>"),
        ("write to numpy.dev at example.org", "write to <EMAIL>"),
    ],
)
def test_spelled_addresses_beside_the_numpy_look_alike_are_still_found(text: str, want: str) -> None:
    assert redact(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("Mail jane@localhost for access.", "Mail <EMAIL> for access."),
        ("ssh jdoe@localhost", "ssh <EMAIL>"),
        ("psql postgres://jsmith@localhost/app", "psql postgres://<EMAIL>/app"),
    ],
)
def test_a_user_at_localhost_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "@property\ndef x(self): ...",
        "npm i -D @types/node",
        "import x from '@angular/core'",
        "thanks @jane for the review",
        "postgres://postgres@localhost/mydb",
        "mysql -u root@localhost",
        "DATABASE_URL=postgresql://user@localhost:5432/db",
        "GRANT ALL ON db.* TO 'admin'@'localhost';",
        "pkg@1.2.3 and foo@bar",
        "@localhost",
    ],
)
def test_handles_decorators_scopes_and_generic_accounts_stay(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


PROVIDER_TOKENS = [
    "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",  # HuggingFace: 34 letters
    "hf_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWx",
    "npm_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxYz",
    "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlszLCJhYmNkIl0AAAYgAbCdEfGh",
    "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",
    "ghp_C4n4ry7f3a9Xq2Lm8Rt5Vb1Nz6Kd0Wy3Hj9P",
    "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc",
    "glpat-xY1z2A3b4C5d6E7f8G9h",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxa-2-123456789012-AbCdEfGhIjKl",
    "AKIAQ7CANARY4F3A9XYZ",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
]


@pytest.mark.parametrize("token", PROVIDER_TOKENS, ids=lambda t: t[:6])
@pytest.mark.parametrize("context", ["{}", "see {} here", '"{}"', "x={}", "中文{}中文"])
def test_provider_tokens_are_found_without_a_keyword(token: str, context: str) -> None:
    text = context.format(token)
    assert _found(text) == [(token, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "model = 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()",  # `hf_` + 34 letters of camel-case words
        "npm_PackageDependencyResolverForWorkers1",
        "x_hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
        "pypi-package-name",
        "SG.short.token",
    ],
)
def test_provider_token_look_alikes_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Tel. 0049 (0)30 12345678 ab 9 Uhr.", "0049 (0)30 12345678"),
        ("Tel. 0049 (0) 30 12345678 ab 9 Uhr.", "0049 (0) 30 12345678"),
        ("Звоните 8 (495) 123-45-67 днём.", "8 (495) 123-45-67"),
        ("call 8(916)1234567 now", "8(916)1234567"),
    ],
)
def test_trunk_prefixed_national_phones_are_found(text: str, phone: str) -> None:
    assert _found(text) == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "text",
    ["Nature 8 (2001) 123-130", "vol. 8 (495) pp. 12-15", "see 8 (1990) 123-45-67", "Table 8 (n = 120) 45-67"],
)
def test_citations_shaped_like_trunk_prefixed_phones_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("https://x.com/?phone=%2B14155550173&a=1", "https://x.com/?phone=<PHONE>&a=1"),
        ("https://x.com/?phone=%2B44%2020%207946%200958", "https://x.com/?phone=<PHONE>"),
        ("https://x.com/?phone=%2B44+20+7946+0958&x", "https://x.com/?phone=<PHONE>&x"),
        ("<a href='tel:%2b493090182736'>", "<a href='tel:<PHONE>'>"),
        ("?email=jane.doe%40example.com&phone=%2B14155550173", "?email=<EMAIL>&phone=<PHONE>"),
        ("?q=a%2Bb&x=5%2B3&v=1%2B2%2B3&n=%2B2147483647", "?q=a%2Bb&x=5%2B3&v=1%2B2%2B3&n=%2B2147483647"),
    ],
)
def test_a_phone_with_a_percent_encoded_plus_in_a_query_string_is_found(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)
