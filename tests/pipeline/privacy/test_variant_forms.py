"""Other ways of writing the same data: extensions, joined numbers, lower case, dashes, compact SSNs, CLI flags, XML.

And the look-alikes that must stay untouched next to them (retina image names, four-part versions).
"""

from __future__ import annotations

import pytest

from tests.pipeline.privacy.test_detectors import _found


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("Call 415-555-0173x12 today.", "415-555-0173"),
        ("Call (415) 555-0173 ext. 12 today.", "(415) 555-0173"),
        ("Call +1 415 555 0173x12 today.", "+1 415 555 0173"),
        ("Ruf an: 030 12345678x12.", "030 12345678"),
    ],
)
def test_a_phone_with_an_extension_loses_at_least_its_main_number(text: str, phone: str) -> None:
    assert _found(text) == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "phone", ["415-555-0173/0174", "030 1234567/8", "(030) 1234567/89", "0171 4829361/62", "+49 30 1234567/8"]
)
def test_two_numbers_joined_by_a_slash_are_one_phone(phone: str) -> None:
    text = f"Tel. {phone} bitte."
    assert _found(text) == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "phone",
    [
        "089 / 12 34 56 78",
        "030 / 1234567",
        "089 - 123 45 67",  # a spaced dash after the area code
        "0221 - 5550199",
        "+49 (0)89 12345678",
        "+49 (0)89 / 12 34 56 78",
        "0033 1 42 68 53 00",
        "0033 1 23 45 67 89",
        "01 42 68 53 00",
        "020 7946 0958",
        "+44 20 7946 0958",
    ],
)
def test_german_french_and_uk_ways_of_writing_a_phone(phone: str) -> None:
    text = f"Tel. {phone} ab 9 Uhr."
    assert _found(text) == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "text",
    [
        "Seite 12 / 34 und 56 / 78",
        "Stand 2024 / 2025: 1234 / 5678 Punkte",
        "ratio 0123 / 4567 8",
        "Umsatz 02 3 10 20 30 Mio.",
        "see 415-555-0173/2024-05-01",
        "Öffnungszeiten 08 - 12 und 13 - 17 Uhr",
        "Saison 2010 - 2015 2016 - 2020",
        "Spiel 05 - 10 - 2020",
    ],
)
def test_numbers_around_a_slash_that_are_no_phone_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "iban",
    [
        "de89 3704 0044 0532 0130 00",
        "de89370400440532013000",
        "DE89-3704-0044-0532-0130-00",
        "gb82 west 1234 5698 7654 32",
        "GB82-WEST-1234-5698-7654-32",
    ],
)
def test_an_iban_in_lower_case_or_with_dashes_is_found(iban: str) -> None:
    text = f"Bitte an {iban} überweisen."
    assert _found(text) == [(iban, "IBAN")]


@pytest.mark.parametrize(
    "text",
    [
        "Bitte an de89 3704 0044 0532 0130 01 überweisen.",  # mod-97 fails
        "Bitte an De89 3704 0044 0532 0130 00 überweisen.",  # mixed case is no way of writing an IBAN
        "ref de89-3704-0044-0532-0130-00ab",  # the country's length ends inside a group
        "ref de89 3704 0044 0532 0130 00ab",
    ],
)
def test_a_lower_case_or_dashed_iban_still_needs_its_checksum_and_one_case(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("IBAN") == 0


@pytest.mark.parametrize(
    ("text", "ssn"),
    [
        ("SSN 536221234", "536221234"),
        ("ssn: 536 22 1234", "536 22 1234"),
        ("Social Security Number: 536221234", "536221234"),
        ("soc. sec. no. 536221234 on file", "536221234"),
        ("SOCIAL SECURITY 536 22 1234", "536 22 1234"),
    ],
)
def test_an_ssn_without_dashes_is_found_next_to_its_context_word(text: str, ssn: str) -> None:
    assert _found(text) == [(ssn, "US_SSN")]


@pytest.mark.parametrize(
    "text",
    [
        "Order 536221234 shipped",
        "id 536221234",
        "ticket 536 22 1234",
        "SSN 123456789",  # the advertising number (validators.ssn_ok)
        "SSN was discussed at length in the meeting notes; later 536221234",  # context too far back
    ],
)
def test_a_bare_nine_digit_number_is_no_ssn(text: str) -> None:
    assert [kind for _, kind in _found(text)].count("US_SSN") == 0


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mysql --password Xk9pLw2rTz7 -u root", "Xk9pLw2rTz7"),
        ("mysql --password=Xk9pLw2rTz7 -u root", "Xk9pLw2rTz7"),
        ("tool --passwd 'Xk9pLw2rTz7'", "Xk9pLw2rTz7"),
        ("gh auth --token Ab12Cd34Ef56Gh", "Ab12Cd34Ef56Gh"),
        ("client --api-key Ab12Cd34Ef56Gh --verbose", "Ab12Cd34Ef56Gh"),
        ("vault --secret  Qw3rTy9uIo0p", "Qw3rTy9uIo0p"),
    ],
)
def test_a_credential_given_as_a_long_cli_flag_is_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "usage: tool [--password PASSWORD] [--token TOKEN] [--api-key KEY]",
        'mysql --password "$DB_PASSWORD" -u root',
        "run --token <token> or --secret ${SECRET}",
        "mysql -p Xk9pLw2rTz7",  # short flags are left alone: `-p` means a port or a path as often
        "pass --password-file /run/secrets/db8 to read it",
        "the --secret flag is optional",
    ],
)
def test_cli_flags_without_a_credential_are_left_alone(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("<server><id>db</id><password>Xk9pLw2rTz7</password></server>", "Xk9pLw2rTz7"),
        ("<secret>Qw3rTy9uIo0p</secret>", "Qw3rTy9uIo0p"),
        ("<config><apiKey>Ab12Cd34Ef56Gh</apiKey></config>", "Ab12Cd34Ef56Gh"),
        ("<api_key>Ab12Cd34Ef56Gh</api_key>", "Ab12Cd34Ef56Gh"),
    ],
)
def test_a_credential_in_an_xml_element_is_found(text: str, secret: str) -> None:
    assert _found(text) == [(secret, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "<password>${env.DB_PASSWORD}</password>",
        "<password>changeme</password>",
        "<secret>true</secret>",
        "<apiKey></apiKey>",
        "<password>Xk9pLw2rTz7 is not closed",
    ],
)
def test_xml_elements_without_a_credential_are_left_alone(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "jwt",
    [
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ.",
        "eyJhbGciOiJub25lIn0.eyJ1c2VyIjoiamFuZUBleGFtcGxlLm9yZyJ9.",
    ],
)
def test_an_unsigned_jwt_is_found_with_its_trailing_dot(jwt: str) -> None:
    # alg "none": header.payload. with an empty signature; the payload is what holds the claims
    for text in (f"token {jwt} end", f"Authorization header: {jwt}"):
        assert _found(text) == [(jwt, "SECRET")]


@pytest.mark.parametrize(
    "text",
    [
        "see image@2x.png and icon@3x.jpg",
        "a@2x.png",
        '<img src="logo@2x.webp" srcset="logo@1.5x.PNG 1.5x">',
        "assets/button%402x.png",
    ],
)
def test_retina_image_names_are_not_addresses(text: str) -> None:
    assert _found(text) == []


def test_an_address_at_a_domain_that_only_looks_like_a_scale_factor_is_found() -> None:
    text = "mail ops@2x.example.com or team@3x.io"
    assert _found(text) == [("ops@2x.example.com", "EMAIL"), ("team@3x.io", "EMAIL")]


@pytest.mark.parametrize(
    "text",
    [
        '[assembly: AssemblyVersion("1.2.3.4")]',
        "<AssemblyFileVersion>5.4.2.1</AssemblyFileVersion>",
        "ProductVersion: 5.4.2.1",
        "Please upgrade to 5.4.2.1 now.",
        "We upgraded to 5.4.2.1 last week; downgrade to 5.4.1.9 if it breaks.",
    ],
)
def test_four_part_versions_named_as_such_are_not_ip_addresses(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "the server at 81.169.207.33 answered",
        "Server 81.169.207.33 is down",
        "observer: 81.169.207.33",
        "upgrade the host at 81.169.207.33 first",
        "Conversion 81.169.207.33",
    ],
)
def test_ip_addresses_in_prose_are_still_found(text: str) -> None:
    assert _found(text) == [("81.169.207.33", "IPV4")]


@pytest.mark.parametrize("text", ["2002-10-27 01:30:00 EDT-0400 / 2002-10-27 01:30:00", "offset +0200 / 2024-05-01"])
def test_a_time_zone_offset_before_a_date_is_no_phone(text: str) -> None:
    # the ` / ` that joins `089 / 12 34 56 78` must not join an offset and a date
    assert _found(text) == []


@pytest.mark.parametrize("phone", ["01.42.68.53.00", "06.12.34.56.78", "09.72.45.18.36"])
def test_a_french_phone_written_with_dots_is_found(phone: str) -> None:
    for text in (f"Tél. {phone} le matin.", f"Appelez le {phone}.", f"tel:{phone}"):
        assert _found(text) == [(phone, "PHONE")], text


@pytest.mark.parametrize(
    "text",
    [
        "version 01.02.03.04.05 released",  # a version number (context word), not a phone
        "v1.01.42.68.53.00",  # inside a longer dotted number
        "01.42.68.53.00.12",  # six groups: not the French shape
        "01.42.68.53",  # four groups
        "00.42.68.53.00",  # no French number starts 00 then a dot
        "1.42.68.53.00",
        "Am 01.02.2024 um 10.30 Uhr",  # a German date and time
    ],
)
def test_dotted_numbers_that_are_no_french_phone_stay(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "phone", ["+44 20 7946 0958", "+353 1 677 0095", "+886 2 2311 6345", "+1 214 748 3647", "+7 495 123 45 67"]
)
def test_an_international_phone_with_an_assigned_country_code_is_found(phone: str) -> None:
    assert _found(f"Call {phone} today.") == [(phone, "PHONE")]


@pytest.mark.parametrize(
    "text",
    [
        "INT_MAX is +2147483647 on most systems.",  # +214 is no country's code
        "the counter wrapped at +4294967295",  # +42 alone is unassigned (420, 421, 423 are)
        "gain +28 7364 9912 dB",  # +28x is a spare block
        "offset +1 155 512 3456",  # +1 (North America): an area code never starts with 0 or 1
        "offset +1 415 155 0173",  # nor does an exchange
    ],
)
def test_a_signed_number_whose_country_code_no_country_has_is_no_phone(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(
    "text", ["See section-2.3.2.4 of the spec.", "release-5.4.2.1 is out", "chapter_12.3.4.5 explains it"]
)
def test_a_four_part_number_joined_to_its_version_word_is_no_ip_address(text: str) -> None:
    assert _found(text) == []
