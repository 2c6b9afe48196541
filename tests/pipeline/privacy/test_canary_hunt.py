"""Canaries in the forms real corpora write them that the Redactor used to let through (one test per miss found),
and the look-alikes next to them that must stay as they are."""

from __future__ import annotations

import pytest

from lmforge.pipeline.privacy import Redactor, scan
from lmforge.pipeline.privacy.scanner import scan_reference


def redact(text: str) -> str:
    return Redactor().redact(text).text


FOUND = [
    # Web pages put soft hyphens (`&shy;`) and zero-width characters inside values: hyphenation, anti-scraping, or
    # a CMS that breaks long words. They render as nothing, and a tokenizer's normalizer may drop them downstream.
    ("Mail: jane\u200b@example.com!", "Mail: <EMAIL>!"),
    ("Mail: jane@\u200bexample.com", "Mail: <EMAIL>"),
    ("Mail: jane.doe@exam\u00adple.com", "Mail: <EMAIL>"),
    ("Mail: ja\u00adne.doe@example.com", "Mail: <EMAIL>"),  # the name before the soft hyphen went unredacted
    ("Mail: jane\u2060@example\u200c.org", "Mail: <EMAIL>"),
    ("Card: 4539\u200b1488\u200b0343\u200b6467", "Card: <CREDIT_CARD>"),
    ("Tel: +44 20\u00ad7946\u00ad0958", "Tel: <PHONE>"),
    ("IBAN: DE89 3704\u200d0044 0532 0130 00", "IBAN: <IBAN>"),
    ("\u200bjane@example.com\u200b", "\u200b<EMAIL>\u200b"),  # those around a value stay where they were
    # without the zero-width space `abc+44…` would be no phone (a '+' glued to a word is a sum): both views count
    ("abc\u200b+44 20 7946 0958", "abc\u200b<PHONE>"),
    # U+2011 (non-breaking hyphen) keeps a phone number on one line, U+2012 (figure dash) is made for phone
    # numbers; word processors and "smart punctuation" write U+2010, U+2013 and U+2212.
    ("Phone: 415\u2011555\u20110173", "Phone: <PHONE>"),
    ("Phone: 415\u2012555\u20120173", "Phone: <PHONE>"),
    ("Phone: +1\u2013415\u2013555\u20130173", "Phone: <PHONE>"),
    ("Tel. 030\u20101234567", "Tel. <PHONE>"),
    ("SSN: 536\u201122\u20111234", "SSN: <SSN>"),
    ("Card 4539\u20121488\u20120343\u20126467", "Card <CREDIT_CARD>"),
    # Mailman's pipermail archives (mail.python.org and most project lists) write every address `local at domain`.
    ("From jane.doe at example.org  Mon Jan  1 00:00:00 2024", "From <EMAIL>  Mon Jan  1 00:00:00 2024"),
    ("From: jane at example.org (Jane Doe)", "From: <EMAIL> (Jane Doe)"),
    ("> Cc: python-dev at python.org", "> Cc: <EMAIL>"),
    ("On Mon, Jane Doe <jane at example.org> wrote:", "On Mon, Jane Doe <<EMAIL>> wrote:"),
    ("Jane Doe jane.doe at example.org", "Jane Doe <EMAIL>"),
    ("write to j_doe at mail.example.co.uk.", "write to <EMAIL>."),
    ("or jdoe42 at gmail.com", "or <EMAIL>"),
    ("JANE.DOE AT EXAMPLE.ORG", "<EMAIL>"),
    # a local part spelled out as its domain is: the name before the last ' dot ' went unredacted
    ("write jane dot doe at gmail dot com now", "write <EMAIL> now"),
    ("jane [dot] doe [at] example [dot] com", "<EMAIL>"),
    # Markdown's emphasis around an address
    ("Contact _jane.doe@example.org_ today", "Contact <EMAIL>_ today"),
]


@pytest.mark.parametrize(("text", "want"), FOUND)
def test_a_value_hidden_by_invisible_characters_dashes_or_spelled_at_is_found(text: str, want: str) -> None:
    assert redact(text) == want


STAYS = [
    # ranges written with dashes
    "Python 3.10\u20133.13 are supported",
    "pages 1234\u20131240",
    "1990\u20132024 \u2212 see \u00a7\u00a02\u20133",
    # prose and code with " at " before a dotted name
    "More details are available at python.org.",
    "look at example.com for details",
    "To be honest, look at python.org",
    "See setup.py at github.com/org/repo",
    "README.rst at github.com",
    "Node.js at nodejs.org",
    "v2.0 at pypi.org",
    "Released 2.0 at pypi.org",
    "sign-up at eventbrite.com",
    "see foo_bar at module.attr",
    "hosted at docs.python.org/3/",
    "<function foo at 0x7fe8c2b1d0>",
    "Look at test_persist_old.test_function_v0 for inspiration",
    # a matrix product with an attribute, not Markdown around an address
    "y = a@b.weight_decay",
    "c = x@self.weight_matrix",
    # a dotted name on the right of a credential word is code, not a secret
    "token = self.config.AWS_SECRET_ACCESS_KEY2",
    "password = settings.DATABASE_PASSWORD_V2",
    "token = obj.getAccessToken2ForUserId",
    "api_key = os.environ.API_KEY_2024_PRODUCTION",
]


@pytest.mark.parametrize("text", STAYS)
def test_look_alikes_of_the_found_forms_stay(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("text", ["(+44) 20 7946 0958", "Tel (+49) 30 1234567", "call (+33) 1 42 68 53 00."])
def test_an_international_phone_with_its_country_code_in_parentheses_is_found(text: str) -> None:
    assert "<PHONE>" in redact(text)
    assert not any(ch.isdigit() for ch in redact(text))


def test_a_google_oauth_token_in_a_query_string_is_found() -> None:
    text = "https://example.com/cb?access_token=ya29.a0AfH6SMBxYz12345abcdeFGHIJ&state=x"
    assert redact(text).startswith("https://example.com/cb?access_token=<SECRET>")
    assert "a0AfH6SMBx" not in redact(text)


HUNTED = [
    "Mail: ja\u00adne.doe@exam\u200bple.com, tel 415\u2011555\u20110173",
    "abc\u200b+44 20 7946 0958 and \u200b\u200b",
    "From: jane at example.org (Jane Doe)\n> Cc: python-dev at python.org\nlook at python.org",
    "jane.doe AT example.org and x AT y.z at a.bc",
    "(+44) 20 7946 0958 _jane.doe@example.org_ access_token=ya29.a0AfH6SMBxYz12345abcdeFGHIJ",
    "say jane dot doe at gmail dot com, x dot y dot z dot w dot v at a dot org, " + "q" * 70 + " dot r at s dot com",
    "\uff0b\uff14\uff14 20 7946 0958 jane.doe at example.org \u2013 536\u201122\u20111234",
    "at a.b at  x.y at 1.2 at -x.y at x-.y at " + "a" * 70 + ".com",
]


@pytest.mark.parametrize("text", HUNTED)
def test_native_scan_equals_reference_on_the_hunted_forms(text: str) -> None:
    assert scan(text) == scan_reference(text)
