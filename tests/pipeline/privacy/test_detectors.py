"""Every type is found in EN/DE/ZH/code at the exact span; hard negatives stay untouched; offsets are code points."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmforge.pipeline.privacy import Redactor, scan
from lmforge.pipeline.privacy.scanner import scan_reference
from lmforge.pipeline.privacy.validators import luhn_ok

DATA = Path(__file__).parents[2] / "data" / "privacy"
POSITIVES = [json.loads(line) for line in (DATA / "positives.jsonl").read_text(encoding="utf-8").splitlines()]
HARD_NEGATIVES = [line for line in (DATA / "hard_negatives.txt").read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize("case", POSITIVES, ids=lambda c: f"{c['type']}-{c['lang']}-{c['needle'][:12]}")
def test_positive_is_found_at_its_exact_span(case: dict) -> None:
    text, needle = case["text"], case["needle"]
    start = text.index(needle)
    spans = scan(text)
    assert [(s.start, s.end, s.type) for s in spans] == [(start, start + len(needle), case["type"])]


def test_positives_cover_every_language_for_the_main_types() -> None:
    langs: dict[str, set[str]] = {}
    for case in POSITIVES:
        langs.setdefault(case["type"], set()).add(case["lang"])
    for kind in ("EMAIL", "PHONE", "IPV4", "CREDIT_CARD", "IBAN", "SECRET"):
        assert langs[kind] == {"en", "de", "zh", "code"}, kind
    assert {"US_SSN", "CN_ID", "IPV6"} <= set(langs)


@pytest.mark.parametrize("line", HARD_NEGATIVES, ids=lambda s: s[:30])
def test_hard_negative_is_untouched(line: str) -> None:
    assert scan(line) == []


def test_offsets_are_code_points_after_cjk_and_astral_text() -> None:
    prefix = "中文文本" * 25 + "😀🙂" + "Grüße "
    text = prefix + "mail: anna.berg@example.org und +49 30 90182736."
    spans = scan(text)
    assert [text[s.start : s.end] for s in spans] == ["anna.berg@example.org", "+49 30 90182736"]
    assert spans[0].start == text.index("anna")


def test_lone_surrogates_and_mixed_scripts_do_not_crash() -> None:
    text = "\ud800 broken \udfff then 8.8.8.8 and Ελληνικά кириллица 中文 user@example.com \ud83d"
    spans = scan(text)
    assert [(text[s.start : s.end], s.type) for s in spans] == [("8.8.8.8", "IPV4"), ("user@example.com", "EMAIL")]


def test_empty_and_non_string_text() -> None:
    assert scan("") == []
    with pytest.raises(TypeError, match="str"):
        scan(b"bytes")  # type: ignore[arg-type]


def test_spans_are_sorted_and_non_overlapping() -> None:
    text = " ".join(case["text"] for case in POSITIVES)
    spans = scan(text)
    assert len(spans) >= len(POSITIVES)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_overlap_priority_secret_beats_email_and_cn_id_beats_card() -> None:
    url = "postgres://app:Zq8#rT5!mK2p@db.example.com/main"
    assert [s.type for s in scan(url)] == ["SECRET"]
    # 18 digits, valid CN ID checksum; a card reading of the same digits must not win.
    assert [s.type for s in scan("ID 110108198703142637")] == ["CN_ID"]


def _luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


@given(st.text(alphabet="0123456789", min_size=14, max_size=14), st.sampled_from(["", " ", "-"]))
def test_any_luhn_valid_visa_is_found_and_a_wrong_check_digit_is_not(body: str, sep: str) -> None:
    number = _luhn_complete("4" + body)
    formatted = sep.join(number[i : i + 4] for i in range(0, 16, 4))
    text = f"Paid with {formatted} yesterday."
    assert [text[s.start : s.end] for s in scan(text) if s.type == "CREDIT_CARD"] == [formatted]
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not [s for s in scan(f"Paid with {wrong} yesterday.") if s.type == "CREDIT_CARD"]


@given(st.integers(min_value=1, max_value=8), st.integers(min_value=0, max_value=9))
def test_iban_with_a_changed_digit_is_not_found(position: int, delta: int) -> None:
    iban = "DE89370400440532013000"
    text = f"Konto {iban}."
    assert [s.type for s in scan(text)] == ["IBAN"]
    digit = str((int(iban[4 + position]) + 1 + delta % 9) % 10)
    broken = iban[: 4 + position] + digit + iban[5 + position :]
    assert [s.type for s in scan(f"Konto {broken}.") if s.type == "IBAN"] == []


PROVIDER_TOKENS = [
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAY34FZKBOKMUTVV7A",
    "ghp_" + "a1B2" * 9,
    "github_pat_" + "Ab1_" * 6,
    "glpat-" + "x1Y2z3" * 4,
    "xoxb-1234567890-abcdefghij",
    "AIza" + "Sy" + "A1b2C3d4" * 4 + "x",
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "rk_live_" + "a1" * 12,
    "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "rk_test_" + "a1" * 12,
    "sk-proj-" + "Ab3" * 12,
    "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH",
    "npm_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxYz",
    "pypi-AgEIcHlwaS5vcmc" + "CJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAw",
    "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
]


@pytest.mark.parametrize("token", PROVIDER_TOKENS, ids=lambda t: t[:8])
def test_every_provider_token_format_is_found_unless_glued_to_a_word(token: str) -> None:
    # Each rule's lookbehind must reach exactly the character before the token's prefix: one character too short
    # and it looks at the prefix itself, so the rule never matches.
    text = f"config: {token} (rotated)"
    assert [(text[s.start : s.end], s.type) for s in scan(text)] == [(token, "SECRET")]
    if not token.startswith(("github_pat_", "glpat-")):  # distinctive enough to need no lookbehind
        assert scan(f"7{token} y") == []


def _found(text: str) -> list[tuple[str, str]]:
    """(matched text, type) of each span; the C pre-scan path and the reference path must agree on them."""
    spans = scan(text)
    assert spans == scan_reference(text)
    return [(text[s.start : s.end], s.type) for s in spans]


_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


@pytest.mark.parametrize(
    "text",
    [
        # a service-account JSON file: the newlines of the PEM block are `\\n` escapes inside one string
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + _KEY_BODY
        + '\\nBKcwggSjAgEAAoIBAQC7x\\n-----END PRIVATE KEY-----\\n", "client_email": "x"}',
        # an ASCII-armored OpenPGP secret key
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0example"
        + _KEY_BODY
        + "\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----",
    ],
    ids=["json-escaped-pem", "pgp-armor"],
)
def test_private_key_body_never_survives(text: str) -> None:
    result = Redactor().redact(text)
    assert _KEY_BODY not in result.text and "PRIVATE KEY" not in result.text
    assert result.counts == {"SECRET": 1}


@pytest.mark.parametrize(
    "url", ["redis://:p4ssw0rdXyz9@cache.internal:6379/0", "amqp://:Zq8rT5mK2p@mq.example.com/vhost"]
)
def test_url_password_with_an_empty_user_name_is_found(url: str) -> None:
    text = f"CACHE_URL = {url}"
    password = url.split(":")[2].split("@")[0]
    assert [(text[s.start : s.end], s.type) for s in scan(text)] == [(password, "SECRET")]


@pytest.mark.parametrize(
    "value", ["cGFzc3dvcmQxMjM0NTY3OA==", "dGhpcyBpcyBhIHNlY3JldCBrZXkgMTIz", "Zm9vYmFyOnMzY3IzdC0yMDI0IQ=="]
)
def test_base64_padded_secret_values_are_found(value: str) -> None:
    # a Kubernetes Secret manifest: base64 of the secret is the secret, and its `=` padding is not an operator
    text = f"apiVersion: v1\nkind: Secret\ndata:\n  password: {value}\n"
    assert [(text[s.start : s.end], s.type) for s in scan(text)] == [(value, "SECRET")]


@pytest.mark.parametrize(
    "line",
    [
        "opencv-python==4.8.0.76",
        "nvidia-cudnn-cu12==8.9.2.26",
        "opencv-contrib-python>=4.5.5.62",
        "nvidia-cufft-cu12~=11.0.2.54",
        '{"name": "My Extension", "version": "1.0.0.1", "manifest_version": 3}',
        "__version__ = '4.8.0.76'",
        "<version>4.8.0.76</version>",
    ],
)
def test_four_part_package_versions_are_not_ip_addresses(line: str) -> None:
    assert scan(line) == []


def test_an_ip_compared_in_a_filter_expression_is_still_found() -> None:
    text = (
        "Wireshark: ip.addr==93.184.216.34; shell: [ $ip==8.8.4.4 ]; 服务器IP地址-52.94.236.248; 8.8.8.0-8.8.8.255;"
        " ssh web-151.101.1.69 (a name glued by a dash may be a host)"
    )
    assert [text[s.start : s.end] for s in scan(text)] == [
        "93.184.216.34", "8.8.4.4", "52.94.236.248", "8.8.8.0", "8.8.8.255", "151.101.1.69"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("row", "found"),
    [
        ("Jane,Doe,536-22-1234,415-555-0173", [("536-22-1234", "US_SSN"), ("415-555-0173", "PHONE")]),
        ("4111111111111111,12/27,123", [("4111111111111111", "CREDIT_CARD")]),
        (
            "jane@example.org,415-555-0173,4111 1111 1111 1111",
            [("jane@example.org", "EMAIL"), ("415-555-0173", "PHONE"), ("4111 1111 1111 1111", "CREDIT_CARD")],
        ),
        ("7,13912345678,+44 20 7946 0958,2024-05-01", [("13912345678", "PHONE"), ("+44 20 7946 0958", "PHONE")]),
    ],
)
def test_numbers_in_a_csv_row_are_found_next_to_other_numbers(row: str, found: list[tuple[str, str]]) -> None:
    # A comma between two numbers is a field separator when neither can be a decimal (cards, SSNs, phones).
    assert [(row[s.start : s.end], s.type) for s in scan(row)] == found


@pytest.mark.parametrize("text", ["+4930123456,50 EUR", "+35236450,6", "Umsatz 1,030 1234567 Stück"])
def test_a_comma_decimal_still_keeps_signed_and_national_numbers_apart(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("https://news.example.com/unsubscribe?email=jane.doe%40example.org&list=7", "jane.doe%40example.org"),
        ("https://example.com/?to=Jane%2Bnews%40Example.ORG", "Jane%2Bnews%40Example.ORG"),
        ('<a href="mailto:jane&#64;example.org">write to me</a>', "jane&#64;example.org"),
        ("Kontakt: max.mustermann&#x40;beispiel.de", "max.mustermann&#x40;beispiel.de"),
        ("contact: li.wei&commat;example.cn", "li.wei&commat;example.cn"),
    ],
)
def test_an_address_with_an_escaped_at_sign_is_found(text: str, address: str) -> None:
    # URLs are redacted too (the snapshot's `url` column), and crawled pages keep HTML-escaped addresses.
    assert _found(text) == [(address, "EMAIL")]


@pytest.mark.parametrize("text", ["a 100%40 rise", "see the &#64;property decorator", "x%40y", "&#64;example.org"])
def test_escaped_at_signs_that_are_no_address_are_left_alone(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Schreiben Sie an jürgen.müller@beispiel.de, bitte.", "jürgen.müller@beispiel.de"),
        ("über: ölaf.ångström@example.se", "ölaf.ångström@example.se"),
        ("contact: josé@example.es", "josé@example.es"),
        ("Post an info@stadtwerke-münchen.de senden", "info@stadtwerke-münchen.de"),
    ],
)
def test_an_address_in_decomposed_text_is_found_whole(text: str, address: str) -> None:
    # `lmforge pii` takes text as given; NFD (macOS file names, some PDF extractions) puts a combining mark, which
    # is not a `\w`, inside the local part: the hit must not start after it and leave `jürgen.mü` behind.
    nfd, want = unicodedata.normalize("NFD", text), unicodedata.normalize("NFD", address)
    assert _found(nfd) == [(want, "EMAIL")]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Appelez le +33\u00a01\u00a023\u00a045\u00a067\u00a089 demain", "+33\u00a01\u00a023\u00a045\u00a067\u00a089"),
        ("call +44\u202f20\u202f7946\u202f0958 today", "+44\u202f20\u202f7946\u202f0958"),
        ("card 4111\u00a01111\u00a01111\u00a01111 exp", "4111\u00a01111\u00a01111\u00a01111"),
    ],
)
def test_text_as_given_with_unicode_spaces_is_scanned_as_cleaned_text(text: str, found: str) -> None:
    # Curation turns every Unicode space into ' ' before it redacts; `lmforge pii` scans text as given.
    assert [text[s.start : s.end] for s in scan(text, uncleaned=True)] == [found]
    assert [(s.start, s.end, s.type) for s in scan(text, uncleaned=True)] == [
        (s.start, s.end, s.type) for s in scan(text.replace("\u00a0", " ").replace("\u202f", " "))
    ]
    redacted = Redactor().redact(text, uncleaned=True).text
    assert found not in redacted and redacted.count("<") == 1


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer 3f9a8b7c6d5e4f3a2b1c0d9e", "3f9a8b7c6d5e4f3a2b1c0d9e"),
        ('headers = {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}', "dXNlcjpwYXNzd29yZA=="),
        ("AUTH_HEADER='bearer mF_9.B5f-4.1JqM'", "mF_9.B5f-4.1JqM"),
    ],
)
def test_a_credential_after_an_http_auth_scheme_is_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text", ["auth: basic authentication is enabled", 'curl -H "Authorization: Bearer $TOKEN"', "Bearer <token>"]
)
def test_an_auth_scheme_without_a_credential_is_left_alone(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    ("text", "address"),
    [("Mail first.last@93.184.216.34 today", "first.last@93.184.216.34"), ("root@10.0.0.1.", "root@10.0.0.1")],
)
def test_an_address_at_a_dotted_quad_is_one_email(text: str, address: str) -> None:
    # Before, only a public quad was redacted (as IPV4), and `first.last@` stayed.
    assert _found(text) == [(address, "EMAIL")]


@pytest.mark.parametrize("phone", ["0049 30 12345678", "0044 20 7946 0958", "0086-139-1234-5678", "001-415-555-0173"])
def test_a_number_dialled_with_the_00_international_prefix_is_a_phone(phone: str) -> None:
    text = f"Rufen Sie {phone} an."
    assert _found(text) == [(phone, "PHONE")]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("电话：０２１－６３５８１２４７，请在工作时间拨打。", [("０２１－６３５８１２４７", "PHONE")]),
        ("我的手机１３９１２３４５６７８。", [("１３９１２３４５６７８", "PHONE")]),
        ("邮箱 zhang.wei＠example.cn 联系", [("zhang.wei＠example.cn", "EMAIL")]),
        ("身份证号１１０１０５１９４９１２３１００２Ｘ。", [("１１０１０５１９４９１２３１００２Ｘ", "CN_ID")]),
        ("价格１２３元，２０２４年５月", []),
    ],
)
def test_full_width_digits_and_at_signs_are_read_as_ascii(text: str, found: list[tuple[str, str]]) -> None:
    # NFC cleaning keeps full-width forms, common in Chinese text; the detectors see their ASCII twins.
    assert _found(text) == found
