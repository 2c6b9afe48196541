"""Checksums and ranges behind the detectors, on published examples and their one-digit mutations."""

from __future__ import annotations

import random
import string

import pytest

from lmforge.pipeline.privacy.secrets import looks_random
from lmforge.pipeline.privacy.validators import (
    COUNTRY_CODES,
    card_prefix_ok,
    cn_id_ok,
    country_code_ok,
    iban_ok,
    isbn13_ok,
    luhn_ok,
    name_words,
    negative_context,
    public_ip,
    shannon_entropy,
    ssn_ok,
)


def test_luhn_and_card_prefixes() -> None:
    for number in ("4111111111111111", "5555555555554444", "378282246310005", "6011000990139424"):
        assert luhn_ok(number) and card_prefix_ok(number)
    assert not luhn_ok("4111111111111112")
    assert not card_prefix_ok("9111111111111111")


def test_iban_needs_country_length_and_mod97() -> None:
    assert iban_ok("DE89370400440532013000")
    assert iban_ok("GB82WEST12345698765432")
    assert not iban_ok("DE89370400440532013001")  # checksum
    assert not iban_ok("DE8937040044053201300")  # length
    assert not iban_ok("XX89370400440532013000")  # country


def test_ssn_ranges() -> None:
    assert ssn_ok("536", "90", "4399")
    for area, group, serial in (
        ("000", "12", "3456"),
        ("666", "12", "3456"),
        ("912", "12", "3456"),
        ("123", "00", "4567"),
        ("123", "45", "0000"),
    ):
        assert not ssn_ok(area, group, serial)


def test_cn_id_checksum_date_and_province() -> None:
    assert cn_id_ok("11010519491231002X")
    assert cn_id_ok("11010519491231002x")
    assert not cn_id_ok("110105194912310021")  # checksum
    assert not cn_id_ok("110105194902300028")  # 30 February
    assert not cn_id_ok("990105194912310020")  # no province 99


def test_isbn_is_recognised() -> None:
    assert isbn13_ok("9783161484100")
    assert not isbn13_ok("9783161484101")


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("10.1.2.3", False), ("127.0.0.1", False), ("169.254.1.1", False), ("192.0.2.1", False),
     ("100.64.0.1", False), ("224.0.0.1", False), ("2606:4700::1111", True), ("fe80::1", False), ("2001:db8::1", False),
     ("::1", False), ("not an ip", False)],
)  # fmt: skip
def test_public_ip(address: str, public: bool) -> None:
    assert public_ip(address) is public


def test_negative_context_words() -> None:
    for before in ("Order number: ", "invoice #", "Rechnungsnummer ", "订单号：", "ISBN "):
        assert negative_context(before + "1", len(before)), before
    for before in ("call me on ", "Kreditkarte: ", "SSN "):
        assert not negative_context(before + "1", len(before)), before


def test_entropy_and_random_values() -> None:
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0
    assert looks_random("Xk9#mP2qL7vR")
    for value in ("password", "getpass()", "None", "${DB_PASSWORD}", "<SECRET>", "short1A", "aaaaaaaaaaaa"):
        assert not looks_random(value), value


def test_trivial_digit_runs() -> None:
    from lmforge.pipeline.privacy.validators import trivial_digits

    for digits in ("0123456789", "9876543210", "0000000000", "7890123456", "0001111011", "00011010011"):
        assert trivial_digits(digits), digits
    for digits in ("4111111111111111", "4930901827", "13912345678", "01134960000", "0110110112"):
        assert not trivial_digits(digits), digits


def test_counting_digits() -> None:
    from lmforge.pipeline.privacy.validators import counting_digits

    for digits in ("1234", "123456789", "4321", "12345678"):
        assert counting_digits(digits), digits
    for digits in ("8888", "1235", "8169207", "1111"):
        assert not counting_digits(digits), digits


def test_letters_only_values_need_random_casing() -> None:
    assert looks_random("ceGOKrVfxqroGm")
    for name in ("getElementById", "mail_options", "SomeClassNameHere", "POSITIONAL_OR_KEYWORD"):
        assert not looks_random(name), name


def test_country_codes_are_a_prefix_code() -> None:
    # E.164 codes are read greedily from the left: no code may be the start of another one
    assert not [(a, b) for a in COUNTRY_CODES for b in COUNTRY_CODES if a != b and b.startswith(a)]
    assert all(c.isdigit() and 1 <= len(c) <= 3 for c in COUNTRY_CODES)


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("442079460958", True),  # UK
        ("35316770095", True),  # Ireland (3-digit code)
        ("74951234567", True),  # Russia (1-digit code)
        ("14155550173", True),  # North America
        ("2147483647", False),  # +214: unassigned
        ("4294967295", False),  # +42 alone: unassigned
        ("11555501730", False),  # +1 with an area code starting 1
        ("14151550173", False),  # +1 with an exchange starting 1
        ("1415555", False),  # +1 needs ten digits after it
    ],
)
def test_country_code_ok(digits: str, ok: bool) -> None:
    assert country_code_ok(digits) is ok


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("dep_token0", 2),
        ("token123", 1),
        ("PKCS12PrivateKeyTypes", 4),
        ("s3_full_path", 2),
        ("/oidc/v1/token", 2),
        ("AWS4-HMAC-SHA256", 3),
        ("X448PublicKey", 2),
        ("X25519PublicKey", 2),
        ("PositionalIndexer2D", 2),
        ("cache_creation_input_tokens_above_1hr", 6),
        ("application/vnd.marlin.drm.conftoken+xml", 5),
        ("ck::tensor_operation::element_wise::PassThrough", 7),
        ("FiberForceLengthPassiveDeGroote2016", 6),
    ],
)
def test_names_in_code_are_counted_in_words(value: str, words: int) -> None:
    assert name_words(value) == words


@pytest.mark.parametrize(
    "value",
    [
        "Xk9pLw2rTz7",  # runs of one or two letters between case changes and digits
        "SlAV32hkKG",
        "2YotnFZFEjr1zCsicMWpAA",
        "h480djs93hd8",  # letters between numbers
        "abc123def456",
        "p4ssw0rd",
        "lsdajfh923874",  # letter pairs no word has
        "1234abcd",  # hex
        "c0a8a20f903a4915b94db8de3ea63195",
        "user:123456",  # a long number alone
        "E6F4YSY9ZQ",  # capitals and two numbers
        "k9Xzm43nBGo=",  # base64
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ],
)
def test_random_strings_are_no_names(value: str) -> None:
    assert name_words(value) == 0


_ALPHABETS = {
    "hex": "0123456789abcdef",
    "base64": string.ascii_letters + string.digits + "+/",
    "base64url": string.ascii_letters + string.digits + "-_",
    "alphanumeric": string.ascii_letters + string.digits,
    "lower case and digits": string.ascii_lowercase + string.digits,
}


@pytest.mark.parametrize("alphabet", _ALPHABETS, ids=str)
def test_random_strings_of_twenty_characters_or_more_stay_random(alphabet: str) -> None:
    # a fixed sample of 2000 random keys: at most one in a thousand may read as a name (of keys of 16 characters
    # about 1 in 5000 does, of 20 or more none in 20000), and so lose a key with a digit and a high entropy
    rng = random.Random(1729)
    chars = _ALPHABETS[alphabet]
    keys = ["".join(rng.choice(chars) for _ in range(rng.randint(20, 40))) + "7" for _ in range(2000)]
    assert sum(name_words(key) > 0 for key in keys) <= len(keys) // 1000
    assert sum(not looks_random(key) for key in keys if shannon_entropy(key) >= 3.5) <= len(keys) // 1000
