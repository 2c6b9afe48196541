"""Forms the Redactor used to let through (CJK full stops, twice-escaped '@', tag-split addresses, phones without
separators after a phone word, `_at_…_dot_`, confusable and punycode TLDs, address literals, other scripts' digits,
bidirectional marks), each beside the look-alikes that must stay as they are, and the C pre-scan's side of them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmforge.pipeline.privacy import Redactor, scan, triggers
from lmforge.pipeline.privacy.scanner import _INVISIBLE, scan_reference
from tests.pipeline.privacy.test_prescan import assert_same, native, reference_scanner


def redact(text: str) -> str:
    return Redactor().redact(text).text


FOUND = [
    # CJK input methods type the dot of an address as the ideographic full stop; full-width and half-width stops and
    # the small '@' (U+FE6B) are its look-alikes
    ("邮箱：alice@example\u3002com", "邮箱：<EMAIL>"),
    ("邮箱：alice\uff20example\u3002com", "邮箱：<EMAIL>"),
    ("mail alice@example\uff0ecom", "mail <EMAIL>"),
    ("mail alice@example\uff61com", "mail <EMAIL>"),
    ("mail alice\ufe6bexample.com", "mail <EMAIL>"),
    ("メールはtaro@example\u3002co\u3002jpです", "メールは<EMAIL>です"),
    # an address escaped twice: a URL encoded again as a query value, an entity escaped again, Perl's "\@"
    ("?to=alice%2540example.com", "?to=<EMAIL>"),
    ("q=alice%252Edoe%2540example%252Ecom", "q=<EMAIL>"),
    ("mail alice&amp;#64;example.com", "mail <EMAIL>"),
    ("mail alice&amp;#x40;example&amp;#46;com", "mail <EMAIL>"),
    ('my $to = "alice\\@example.com";', 'my $to = "<EMAIL>";'),
    ("?p=%252B14155550173", "?p=<PHONE>"),
    # an address split by inline tags or comments (anti-scraping); the tags inside go with it, those around stay
    ("mail alice<b>@</b>example.com", "mail <EMAIL>"),
    ("mail alice@<span>example.com</span>", "mail <EMAIL></span>"),
    ("<span>alice</span>@<span>example</span>.<span>com</span>", "<span><EMAIL></span>"),
    ("mail alice<!-- x -->@example<!-- y -->.com", "mail <EMAIL>"),
    ('alice<span style="display:none">null</span>@example.com', "<EMAIL>"),
    ("mail alice@exam<b></b>ple.com", "mail <EMAIL><b></b>ple.com"),  # the name and the '@' go
    # ten digits without separators are a phone only right after a word that says so
    ("Phone: 4155552671", "Phone: <PHONE>"),
    ("call 4155552671 today", "call <PHONE> today"),
    ('<a href="tel:4155552671">call us</a>', '<a href="tel:<PHONE>">call us</a>'),
    ("Mobile 1 415 5552671", "Mobile <PHONE>"),
    ("\u260e 4155552671", "\u260e <PHONE>"),
    ("电话：4155552671", "电话：<PHONE>"),
    # `_at_` with the dots spelled too, as in a docstring's `:contact:` field
    (":contact: pierre_at_uga_dot_edu", ":contact: <EMAIL>"),
    ("mail alice_at_example_dot_com now", "mail <EMAIL> now"),
    ("alice_AT_mail_DOT_example_DOT_org", "<EMAIL>"),
    # a TLD with a Cyrillic look-alike letter (`.сom`), a punycode TLD, an address literal
    ("mail alice@example.\u0441om now", "mail <EMAIL> now"),
    ("mail user@example.xn--p1ai", "mail <EMAIL>"),
    ("mail alice@[93.184.216.34]", "mail <EMAIL>"),
    # Arabic-Indic, Persian and Devanagari digits
    ("Tel: +\u0669\u0667\u0661 \u0665\u0660 \u0661\u0662\u0663 \u0664\u0665\u0666\u0667", "Tel: <PHONE>"),
    ("Tel: +\u06f9\u06f8 \u06f9\u06f1\u06f2 \u06f3\u06f4\u06f5 \u06f6\u06f7\u06f8\u06f9", "Tel: <PHONE>"),
    ("फोन +\u096f\u0967 \u096f\u096e\u096d\u096c\u096b \u096a\u0969\u0968\u0967\u0966", "फोन <PHONE>"),
    # bidirectional marks and invisible operators inside a value render as nothing
    ("mail jane\u200e@example.com", "mail <EMAIL>"),
    ("mail jane@\u200fexample.com", "mail <EMAIL>"),
    ("Tel: 415\u200e-555-0173", "Tel: <PHONE>"),
    ("mail jane\u2066@example.com\u2069", "mail <EMAIL>\u2069"),
    ("Card 4539\u20621488\u20620343\u20626467", "Card <CREDIT_CARD>"),
    ("mail jane@example\u180e.com", "mail <EMAIL>"),
]

#: Addresses the plain scan finds, beside what the new forms must not swallow.
AROUND = [
    ("请联系alice@example.com。谢谢", "请联系<EMAIL>。谢谢"),  # the CJK full stop ends the sentence
    ("friend@example.org<br />deltachats://user", "<EMAIL><br />deltachats://user"),  # a line break ends it
    ("mail x@y.org</a>more", "mail <EMAIL></a>more"),  # a tag after the TLD glues no word to it
    ("mail x@y.org<b>z</b>", "mail <EMAIL><b>z</b>"),
    ("Call me at 510-748-8230 if", "Call me at <PHONE> if"),
]

STAY = [
    "句号。com",
    # `_at_` and `_dot_` in code identifiers
    "self.data_at_index",
    "created_at_utc",
    "x = row.created_at_utc_dot_time",
    "value_at_risk_dot_product",
    # ten-digit numbers without a phone word: ids, timestamps, counts, sizes
    "id 4155552671",
    "user_id = 4155552671",
    "timestamp 4155552671",
    "4155552671",
    "count: 4155552671 rows",
    "Hotel 4155552671",
    "smartphone 4155552671",
    "telemetry 4155552671",
    "call 4115552671",  # area code N11
    "call 1234567890",
    # zero-padded counters: no national number starts with "000" (no country code is 0)
    "shard-0001234567",
    "part 0000012345678",
    "phone order no. 4155552671",
    # generics, decorators and matrix products are no addresses
    "List<T>@Override",
    "x = a @ b.T",
    "y = x @ self.net",
    "x = d@[1]",
    # escapes that hold no address
    "50%252E5",
    "&amp;#64;",
    "\\@foo",
    # other scripts' digits that are no phones
    "\u0661\u0662\u0663",
    "سنة \u0662\u0660\u0662\u0664",
]


@pytest.mark.parametrize(("text", "want"), FOUND)
def test_the_form_is_redacted(text: str, want: str) -> None:
    got = redact(text)
    assert got == want
    assert scan(text) == scan_reference(text)
    with reference_scanner():
        assert redact(text) == got


@pytest.mark.parametrize(("text", "want"), AROUND)
def test_the_new_forms_take_nothing_around_an_address(text: str, want: str) -> None:
    assert redact(text) == want
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize("text", STAY)
def test_the_look_alike_stays(text: str) -> None:
    assert redact(text) == text
    assert scan(text) == scan_reference(text)


@pytest.mark.parametrize(("text", "want"), FOUND)
def test_redacting_the_form_twice_changes_nothing(text: str, want: str) -> None:
    assert redact(want) == want


@native
@pytest.mark.parametrize(("text", "want"), FOUND)
def test_the_prescan_reports_each_form(text: str, want: str) -> None:
    # Invisible characters are taken out before the pre-scan runs (scanner._around_invisibles): it sees the text
    # without them.
    assert triggers._prescan.scan(_INVISIBLE.sub("", text)) is not None


FRAGMENTS = [text for text, _ in FOUND + AROUND] + STAY
FRAGMENTS += [
    # the pieces the pre-scan looks at, alone and cut short
    "%25", "%2540", "%252", "%252e", "%252B", "&amp;", "&amp;#", "&amp;commat;", "&a", "\\@", "\\", "@<", ">@",
    "a>b@c", "a@b<", "a@b.c<", "<b>", "</span>", "<!-- -->", "<br/>", "\u3002", "\uff0e", "\uff61", "\ufe6b",
    "_at_", "_dot_", "x_at_y_dot_", "x_at_y_DOT_z", "_at_y_dot_1", "4155552671", "1-415-555-2671", "415 5552671",
    "1415555267", "tel:", "Tel ", "\u260e", "@[", "a@[1.2.3.4]", "\u0660", "\u06f5", "\u096f", "\u09e7",
    "\u200e", "\u2066", "\u180e", "xn--p1ai", "\u0441om",
]  # fmt: skip
FILLER = "ab xyz_AT-19.@<>/:;%&#\"'\n\u00a0\u3000é中\u0430"
TEXTS = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=FILLER, max_size=8)), max_size=16).map("".join)


@native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_native_scan_equals_reference_on_the_new_forms(text: str) -> None:
    assert_same(text)


@native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_a_text_the_prescan_calls_clean_holds_nothing(text: str) -> None:
    if _INVISIBLE.search(text) is None and triggers._prescan.scan(text) is None:
        assert scan_reference(text) == []


@native
@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_native_scan_equals_reference_on_each_new_fragment_in_every_string_kind(fragment: str) -> None:
    for text in (fragment, f"é {fragment} é", f"中 {fragment} 中", f"\U0001f600 {fragment}\n"):
        assert_same(text)
