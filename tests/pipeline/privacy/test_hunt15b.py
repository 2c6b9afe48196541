"""Byte counts read as Chinese mobiles, escaped URL delimiters taken into a local part, dash-spelled and doubled-'@'
addresses, addresses wrapped across lines, dotted card numbers, and false positives found in the default corpus
(versions, random seeds, a regulation's clause, prose before ` at host.tld`); each beside what must stay found, and
the C pre-scan's side of them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmforge.pipeline.privacy import Redactor, scan, triggers
from lmforge.pipeline.privacy.scanner import scan_reference
from tests.pipeline.privacy.test_prescan import assert_same, native, reference_scanner


def redact(text: str) -> str:
    return Redactor().redact(text).text


FOUND = [
    # a Chinese mobile after a phone word, a key that names a person, or a capitalised label stays a phone
    ("手机：13812345678", "手机：<PHONE>"),
    ("tel=13812345678", "tel=<PHONE>"),
    ("phone_number=13812345678", "phone_number=<PHONE>"),
    ('{"mobile": "13812345678"}', '{"mobile": "<PHONE>"}'),
    ("user_id=13812345678", "user_id=<PHONE>"),
    ("Li: 13812345678", "Li: <PHONE>"),
    ("联系方式: 13812345678", "联系方式: <PHONE>"),
    ("call 13812345678", "call <PHONE>"),
    # only the address after the last escaped delimiter of a query value
    ("?next=%3Fto%3Dalice%40example.com", "?next=%3Fto%3D<EMAIL>"),
    ("?next=%3Fto%3Dalice@example.com", "?next=%3Fto%3D<EMAIL>"),
    ("?next=%253Fto%253Dalice%2540example.com", "?next=%253Fto%253D<EMAIL>"),
    ("mailto%3Aalice%40example.com", "mailto%3A<EMAIL>"),
    ("?to=alice%2Bnews%40example.com", "?to=<EMAIL>"),  # '+' belongs to the local part
    ("?q=jos%C3%A9%40example.com", "?q=<EMAIL>"),  # so do UTF-8 bytes
    # the '@' and the dots spelled with dashes, glued or spaced
    ("alice-at-example-dot-com", "<EMAIL>"),
    ("mail alice-AT-mail-server-DOT-example-DOT-org.", "mail <EMAIL>."),
    ("alice -at- example -dot- com", "<EMAIL>"),
    ("mail alice-at-example.com now", "mail <EMAIL> now"),
    ("alice [at] example [dot] com", "<EMAIL>"),
    ("alice(at)example(dot)com", "<EMAIL>"),
    ("alice {at} example {dot} com", "<EMAIL>"),
    # a doubled '@'
    ("alice@@example.com", "<EMAIL>"),
    ("mail alice@@example.com, bob@example.org", "mail <EMAIL>, <EMAIL>"),
    # an address wrapped across lines: after the '@', inside the domain or local part after a '-'
    ("mail alice@\nexample.com now", "mail <EMAIL> now"),
    ("alice@  \r\n   example.com", "<EMAIL>"),
    ("> alice@\n> example.com", "> <EMAIL>"),
    ("mail alice@exam-\nple.com now", "mail <EMAIL> now"),
    ("alice.smith-\njones@example.com", "<EMAIL>"),
    # cards grouped by dots
    ("card 4539.1488.0343.6467", "card <CREDIT_CARD>"),
    ("Amex 3782.822463.10005", "Amex <CREDIT_CARD>"),
    ("card 348932549825235", "card <CREDIT_CARD>"),
    # what the false-positive fixes must leave found
    ("call 252.227-7013", "call <PHONE>"),
    ("ip.addr==8.8.8.8", "ip.addr==<IP>"),
    ("host 93.184.216.34", "host <IP>"),
    ("mail joe at example dot com, or jane at example.com", "mail <EMAIL>, or <EMAIL>"),
    ("mail joe at example dot com, or jane.doe at example.org", "mail <EMAIL>, or <EMAIL>"),
    # ... and what they must leave alone: prose, a file, a project's object before ` at host.tld` in a text where
    # an obfuscated address switches the ` at ` search on
    (
        "ann [at] example dot com; the docs are available at python.org, the numpy.ndarray at numpy.org",
        "<EMAIL>; the docs are available at python.org, the numpy.ndarray at numpy.org",
    ),
    ("joe at example dot com; see setup.py at github.com", "<EMAIL>; see setup.py at github.com"),
]

KEPT = [
    # an 11-digit value of a code-like key, or one with a unit after it, is a count (psutil's docs)
    "svmem(total=21378641920, used=4809781248, free=15482871808, percent=22.5)",
    "sdiskio(read_count=719566, read_bytes=18626220032, write_bytes=24081764352)",
    "total: 15482871808 bytes",
    "size=13812345678",
    '{"free": 15482871808}',
    "--size=13812345678",
    "Total: 15482871808 bytes",
    # an escaped delimiter and no local part left: the domain alone is nobody's
    "?x=%3D%40example.com",
    # dashes in slugs and identifiers
    "/blog/a-look-at-python.org",
    "created-at-utc-dot-date",
    # line breaks that no address runs across
    "import pytest\n@pytest.fixture",
    "x = 1\n@app.route('/')",
    "a@\n\nb.com",
    "well-\nknown text",
    # doubled '@' without an address
    "SELECT @@VERSION",
    "@@ -1,3 +1,4 @@",
    # dotted numbers that are no cards
    "1.4539.1488.0343.6467",
    "4539.1488.0343.6467.2",
    # false positives of the default corpus
    "rng = np.random.default_rng(348932549825235)",
    "torch.manual_seed(4539148803436467)",
    "Clause 252.227-7013 (c) (1) of DFARs",
    "as defined in DFARS 252.227-7013",
    "  Validator,ROCM_VERSION,6.0.0.0-12969-1544e39",
    "``brotli`` >= 1.2.1 and ``brotlicffi`` >= 1.2.1.0, which fix",
    "pin pkg ~= 2.7.2.2",
]


@pytest.mark.parametrize(("text", "want"), FOUND)
def test_found(text: str, want: str) -> None:
    assert redact(text) == want
    with reference_scanner():
        assert redact(text) == want


@pytest.mark.parametrize("text", KEPT)
def test_kept(text: str) -> None:
    assert redact(text) == text
    with reference_scanner():
        assert redact(text) == text


@native
@pytest.mark.parametrize("text", [t for t, _ in FOUND] + KEPT)
def test_native_scan_equals_reference(text: str) -> None:
    for variant in (text, f"é {text} é", f"中 {text} 中", f"\U0001f600 {text}\n"):
        assert_same(variant)


@native
def test_prescan_flags_what_the_new_forms_need() -> None:
    # `spelled` (index 5) for the dash forms, `disguised` (index 6) for the wrapped ones; nothing for plain text
    for text in ("alice-at-example-dot-com", "a -at- b -dot- com", "x-at-example.com"):
        assert triggers._prescan.scan(text)[5], text
    for text in ("alice@\nexample.com", "alice@exam-\nple.com", "alice.smith-\njones@example.com", "a@ \r\n b.co"):
        assert triggers._prescan.scan(text)[6], text
    assert triggers._prescan.scan("plain text, nothing here\n") is None


WRAP_PARTS = st.sampled_from(
    ["alice", "@", "@@", "\n", "\r\n", " ", "-", "-\n", "example", ".", "com", "-at-", " -at- ", "-dot-", " -dot- ",
     ">", "%3D", "%40", "%2540", "4539", "1488", "0343", "6467", "13812345678", "free=", "tel=", "size: ", "x", "_"]
)  # fmt: skip


@native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(WRAP_PARTS, max_size=16).map("".join))
def test_native_scan_equals_reference_on_the_new_forms(text: str) -> None:
    assert scan(text) == scan_reference(text)


@native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(WRAP_PARTS, max_size=16).map("".join))
def test_a_text_the_prescan_calls_clean_has_no_hits(text: str) -> None:
    if triggers._prescan.scan(text) is None:
        assert scan_reference(text) == []
