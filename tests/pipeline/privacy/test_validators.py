"""Checksums and ranges behind the detectors, on published examples and their one-digit mutations."""

from __future__ import annotations

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
