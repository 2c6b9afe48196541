"""The candidate-driven scan (C pre-scan + patterns at candidates) gives what the reference scan gives, on every input.

`scan` uses the C module `_prescan` when it is built; `scan_reference` (every pattern over its whole window) is the
fallback. Each test runs both and compares spans, or whole redactions (text, counts, drop), under several configs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmforge.pipeline.corpus.default import build_default_corpus
from lmforge.pipeline.privacy import PrivacyConfig, Redactor, scan, triggers
from lmforge.pipeline.privacy.scanner import scan_reference
from lmforge.pipeline.privacy.secrets import _KEYWORDS
from tests.pipeline.privacy.test_adversarial import ADVERSARIAL
from tests.support.canaries import CANARIES, canary_documents

native = pytest.mark.skipif(triggers._prescan is None, reason="the C module _prescan is not built (no compiler)")
DATA = Path(__file__).parents[2] / "data" / "privacy"

CONFIGS = (
    PrivacyConfig(),
    PrivacyConfig(actions={"EMAIL": "keep", "PHONE": "drop", "SECRET": "drop"}, secret_min_entropy=2.0),
    PrivacyConfig(actions={"IPV4": "keep", "CREDIT_CARD": "drop"}, secret_min_length=4, secret_min_entropy=4.0),
)

#: Fragments the patterns look for, with their near misses; texts are built by gluing them to random filler.
FRAGMENTS = (
    # e-mail: plain, CJK before, local part at and past the 64-character limit, long domains past the window
    "canary.7f3a9@example-mail.com", "a@b.cc", "x.y+z%q-w@sub.example.co.uk", "联系zhang.wei@mail-canary.cn",
    "u" * 63 + "@example.org", "v" * 64 + "@example.org", "w" * 65 + "@example.org", ".dot@example.com",
    "a@" + ("d" * 60 + ".") * 5 + "com", "name@localhost", "@decorator", "x@y", "me@例子.公司", "a@@b.com",
    # obfuscated e-mail and the hints that switch it on
    "john [at] example [dot] com", "john(at)example(dot)com", "jane {AT} example.org", "bob <@> mail.example.com",
    "joe at example dot com", "ann AT example DOT org", "eve\u3000[at]\u3000example.com", "kim ( at ) example.net",
    "x At] y", " at ]", "format)", " dot ", " DOT ", "at}", "AT)",
    # phones
    "+49 30 90182736", "+1 (415) 555-0173", "(646) 555-0188", "1-646-555-0188", "646.555.0188", "0171 4829361",
    "(030) 1234567", "13912345678", "139 1234 5678", "021-63581247", "+44 20 7946 0958", "+1,000,000", "+35236450.6",
    "+33 (0)1 23 45 67 89", "0123456789", "555-0173",
    # cards, with groupings, an ISBN, and a card inside a longer non-card match
    "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "5555555555554444", "2021 4111 1111 1111 1111",
    "9780306406157", "6011 0009 9013 9424", "4111 1111 1111 1111 1111",
    # SSN, CN ID, IBAN
    "536-22-1234", "SSN 536 22 1234", "078-05-1120", "11010519491231002X", "440524188001010014",
    "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606", "XX12 3456 7890",
    # IPs
    "81.169.207.33", "8.8.8.8", "10.0.0.1", "1.2.3.4.5", "version 1.2.3.4", "v2.10.3.1", "999.1.1.1",
    "Jane,536-22-1234,415-555-0173", "4111111111111111,12/27", "7,13912345678,+44 20 7946 0958,2024-05-01", "+4930123456,50",
    "1,030 1234567", "ju\u0308rgen.mu\u0308ller@beispiel.de", "jose\u0301@x.es", "０２１－６３５８１２４７", "１３９１２３４５６７８", "li＠example.cn", "１２３", "first.last@93.184.216.34", "x@1.2.3.4.5", "\u0301abc@x.com", "a@mu\u0308nchen.de",
    "opencv-python==4.8.0.76", "cu12-8.9.2.26", "ip.addr==8.8.8.8", "$ip==8.8.8.8", '"version": "1.0.0.1"',
    "2001:4860:4860::8888", "2a00:1450:4001:82a::200e", "2001:4860:4860:0:0:0:0:8888", "::1", "fe80::1",
    "12:30:00", "1:2:3:4:5:6:7:8", "dead:beef::cafe:1", "a:b:c:d:e:f:0:1", "Example::", "std::vector", "x::1",
    "g::1", ".::1", "::ffff:8.8.8.8", "1:2:3:4:5:6:7", "0:0:0:0:0:0:0:1", "2001:4860:4860:0000:0000:0000:0000:8888",
    "2001:4860:4860:0000:0000:0000:0000:88881", "fe80::1ff:fe23:4567:890a%eth0", "[2001:db8::1]:8080",
    # secrets: provider formats, URL passwords, assignments
    "AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A", "ghp_" + "a1B2" * 9, "github_pat_" + "Ab1_" * 6,
    "glpat-" + "x1Y2z3" * 4, "xoxb-1234567890-abcdefghij", "hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX",
    "AIza" + "Sy" + "A1b2C3d4" * 4 + "x", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "rk_test_" + "a1" * 12,
    "sk-proj-" + "Ab3" * 12, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2\n-----END RSA PRIVATE KEY-----",
    "https://user:S3cr3tPw9@host.example.com/x", "ftp://a:b@c", "redis://:p4ssw0rdXyz@h:6379", "://:", "://:ab@",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0x\n=ab\n-----END PGP PRIVATE KEY BLOCK-----",
    '"-----BEGIN PRIVATE KEY-----\\nMIIEvQIB\\n-----END PRIVATE KEY-----\\n"', "secret: cGFzc3dvcmQxMjM0NTY3OA==",
    "password=Xk9#pLw2rTz", "api_key: 'aB3dE5fG7hJ9kL'", "Authorization: Bearer 3f9a8b7c6d5e4f3a2b1c",
    'auth: "Basic dXNlcjpwYXNzd29yZA=="',
    "token = ceGOKrVfxqroGm", "secret is Qw3rTy9uIo0p", "Kennwort lautet Zx9q8w7e6r", "密码：Abc123xyz!9",
    "口令是Pq8Wm3Zt7Lk", "key: key = Xk9#pLw2rTz", "passpass=Ab12Cd34Ef56", "password=tokenkey=Zx9q8w7e6r5t",
    "AUTH_TOKEN=${TOKEN}", "password = getpass()", "credential: <SECRET>", "\u212aey=Zx9q8w7e6r5t",
    "to\u212aen: Ab12Cd34Ef56Gh", "\u0130 password=Xk9#pLw2rTz",
    # other ways of writing them (test_variant_forms), and their look-alikes
    "415-555-0173x12", "415-555-0173/0174", "030 1234567/8", "089 / 12 34 56 78", "030 / 1234567", " / ",
    "+49 (0)89 / 12 34 56 78", "0033 1 42 68 53 00", "02 3 10 20 30", "de89 3704 0044 0532 0130 00",
    "DE89-3704-0044-0532-0130-00", "gb82west12345698765432", "de89-3704-0044-0532-0130-00ab", "SSN 536221234",
    "536221234", "--password Xk9pLw2rTz7", "--passwd ", "--token Ab12Cd34Ef56Gh", "--api-key Ab12Cd34Ef56Gh",
    "--API_KEY ", "--secret=Qw3rTy9uIo0p", "<password>Xk9pLw2rTz7</password>", "<secret>", "</", "<apiKey>",
    "<API-KEY>Ab12Cd34Ef56Gh</API-KEY>", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxMjM0In0.", "icon@2x.png", "a%401.5x.webp",
    'AssemblyVersion("1.2.3.4")', "upgrade to 5.4.2.1", "Server 81.169.207.33",
    # quoted local parts, `-at-`/`_at_`, escaped dots, `@localhost`, keyword-less tokens, trunk-prefixed phones
    '"john doe"@example.com', '"a"@b.cc', '""@x.org', '"x"@', '\\"j d\\"@example.com', '" "@y.org',
    "jane -at- example.org", "jane_at_example.org", "x_AT_y.com", " -at- ", "_at_", "jane%2Edoe%40example%2Ecom",
    "%2e", "j&#46;d@e&#46;com", "jane&#x2E;doe&#x40;example&#x2e;com", "jane@localhost", "root@localhost",
    "@localhost", "a@localhost.", "hf_" + "aBcD" * 8 + "eF", "npm_" + "a1B2" * 9, "pypi-AgEIcHlwaS5vcmc" + "Ab1-" * 6,
    "pypi-", "SG." + "a" * 22 + "." + "b" * 43, "SG.", "0049 (0)30 12345678", "8 (495) 123-45-67", "8(916)1234567", "8 (", "8-(812)123 45 67",
    "?p=%2B14155550173", "%2B44%2020%207946%200958", "%2b44+20+7946+0958", "%2B", "5%2B3",
    # spaces beside an '@', with the matrix products and decorators of that shape
    "alice @ example.com", "alice.smith @ example.co.uk", "a @example.com", "jo@ example.org", "jo  @  x.de",
    "jo   @ x.de", "jo @   x.de", "jo\t@\tx.de", "A @ B.T", "x @ w.weight", "@ property", " @ ", "u @ np.diag(s)",
    "jo @ a.1b.com", "jo @ 1b.c.com", "jo @ " + "a" * 63 + ".com", "jo @ " + "a" * 64 + ".com", "v" * 64 + " @ x.org",
    "w" * 65 + " @ x.org", ".jo @ x.org", "jo. @ x.org", "中jo @ x.org", "a@b @ c.org", "x@ y.org@ z.org",
    "(698095554475, 14118073569)", "[3, 13912345678, -7]", "{schema}://{user}:{apikey}@{host}",
    "misskey://access_token@h", "urn:ietf:params:oauth:token-type:jwt", "jane(@)example.com", "bob < @ > x.org",
    "@]", "@ )", "{@}", "me at jane.doe at gmail dot com", "me at j.d [at] g [dot] com", "(11) 98765-4321",
    "(21)2345-6789", "(12) 1234-1256", "(10) 1234-5678", "(1) 2345-6789", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PAL",
    "bot1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw7", "12345678901:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw7", ":A",
    "discord.com/api/webhooks/123456789012345678/" + "aB3dE5fG7h" * 7, "discordapp.com/api/webhooks/1",
    "webhooks/12", "curl -u jane:Xk9pLw2rTz7 x", "curl --user=a:hunter2", " --user b:c9d8e7", "x-u a:b", " -u", "--u",
    "docker run -u 1000:1000", " -uj:Xk9pLw2r", "GOCSPX-" + "aB3dE5fG7h" * 3, "gsk_" + "aB3dE5fG7h" * 6,
    "r8_" + "aB3d" * 10, "pplx-" + "aB3dE5fG7hJ9" * 4, "whsec_" + "aB3dE5fG7h" * 4, "xgsk_", "GOCSPX-", "r8_",
    "pplx-", "whsec_", "docker run -u app:staff", "(14118073569, 698095554475)", "phones = [13912345678, 5]",
    # context words that turn numbers into negatives
    "order no. ", "Invoice #", "ISBN ", "ver: ", "Social Security ", "订单号", "Rechnungsnummer: ",
    # percent-encoded spaces in a phone, '#' for '@', German and other spelled forms, spaced dots, key/value pairs,
    # Shopify, DigitalOcean and Mailchimp tokens, and their look-alikes
    "tel:+1%20415%20555%202671", "+44%2020%207946%200958", "+44%252020%25207946", "TEL:030%2090182736", "tel:",
    "Tel:1%20", "+123456%20", "%20", "%2520", "+1%2", "l:1%20",
    "邮箱：zhang.wei#example.cn", "Email: li#mail.example.com.cn", "zhang.wei#example.cn（请把#换成@）", "#换成@",
    "page.html#section.top", "obj#method.name", "issue#123", "docs/os.html#os.path", "?a=b#c.com", "a#b#c.com",
    "x#" + "y" * 63 + ".com", "x#" + "y" * 64 + ".com", "w" * 65 + "#example.com", "#a.b", "a#.com",
    "jane(ät)example(punkt)de", "jane [at] example [punkt] de", "jane (ÄT) example (PUNKT) de", "ät)", "ÄT]",
    "ät ]", "(ät)", "[Ät]", "x (punto) es", "jane . doe @ example . com", "a . b . c . d . e @ x . org",
    "jo @ x  .  org", "jo @ x . ", "jo .  @ x.org", " . jo @ x.org", "Thanks . bob @ example.com",
    '<add key="ApiKey" value="Xk9pLw2rTz7Qm4"/>', '<add name="DbPassword" value="Xk9pLw2rTz7Qm4"/>',
    '{"name": "API_TOKEN", "value": "Xk9pLw2rTz7Qm4"}', "- name: DB_PASSWORD\n    value: Xk9pLw2rTz7Qm4",
    "token ,   'VALUE' = Xk9pLw2rTz7Qm4", "key value", "key valueFrom:", "key\n" + " " * 30 + "value: Ab12Cd34",
    "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", "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", "shp", "php", "xshpat_",
    "dop_v1_" + "8f3a9c1e5b7d2f4a" * 4, "doo_v1_", "dor_v1_" + "a" * 64, "v1", "_v1_",
    "8f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e-us12", "x8f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e-us1", "-us1", "-user",
    "Python 2.7.2.2", "versions 2.7.2.1 and 2.7.2.2", "AIX 7.1.4.34", "2.7.2.2, 3.1.1.6 and 3.2.1",
    "\n    2.7.2.2\n    1.3.a4\n", 'ObjectIdentifier("2.5.29.14")', "81.169.207.33-abc", "81.169.207.33, 0.25",
    "PKCS12PrivateKeyTypes", "key: PKCS12PrivateKeyTypes", '"Key": s3_full_path', 'token="token123"',
    "邮箱：zhang.wei＃example.cn", "zhang.wei★example.cn", "li☆mail.example.com", "★x.com", "a＃", "＃b.com",
    "max(a)beispiel.de", "x(A)y.de", "(a)x.de", "x(a) y.de", "x (a)y.de", "f(a)\n", "(a)", "(A)", "a)", "(a",
    "?sig=Xk9pLw2rTz7Qm4aB3dE5fG7hJ9kL1mN3pQ5rS7t%2B%2F%3D", "&sig=" + "a" * 30, "design=", "sig=", "?sig=%2",
    "Authorization: token 3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", "auth: token ", "token\tXk9pLw2rTz7Qm4",
    "jane @ example dot com", "jane dot doe @ x DOT org", "x @ w dot weight", "jo @ x dot", "jo dot @ x.org",
    " dot jo @ x.org", "jo @ xdot com", "jo @ x  dot  org",
    "089 - 123 45 67", "0221 - 5550199", "08 - 12 13 - 17", "1 - 2", " - 1234567 - 89",
)  # fmt: skip
FILLER = "abcxyzAKQ_ 019.,:;-/()[]{}<>@+%#='\"\n\t\xa0\u3000éäß中文测试为是：＃★\u0130\u212a\ud800\U0001f600"
TEXTS = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=FILLER, max_size=12)), max_size=24).map("".join)
#: Few characters, many hints: windows merge, hint limits switch to "whole text", lookbehinds see separators.
DENSE = st.text(alphabet="0123456789.:@+- ()/aAfFxX[]kK=_#%", max_size=400)


@contextmanager
def reference_scanner() -> Iterator[None]:
    """Make `scan` (and so `Redactor`) take the pure-Python fallback, as on a machine without the C module."""
    saved = triggers._prescan
    triggers._prescan = None
    try:
        yield
    finally:
        triggers._prescan = saved


def assert_same(text: str) -> None:
    for config in CONFIGS:
        assert scan(text, config) == scan_reference(text, config), text
        got = Redactor(config).redact(text)
        with reference_scanner():
            want = Redactor(config).redact(text)
        assert got == want, text


@native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_native_scan_equals_reference_on_mixed_pii(text: str) -> None:
    assert_same(text)


@native
@settings(max_examples=300, deadline=None)
@given(text=DENSE)
def test_native_scan_equals_reference_on_dense_hints(text: str) -> None:
    assert scan(text) == scan_reference(text)


@native
@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_native_scan_equals_reference_on_each_fragment_in_every_string_kind(fragment: str) -> None:
    # the same text as 1-, 2- and 4-byte str: the C code reads each kind separately
    for text in (fragment, f"é {fragment} é", f"中 {fragment} 中", f"\U0001f600 {fragment}\n"):
        assert_same(text)


@native
def test_native_scan_equals_reference_on_canaries_and_adversarial_inputs() -> None:
    texts = [c.sentence for c in CANARIES] + [d["text"] for d in canary_documents()]
    texts += [text[:20_000] for text in ADVERSARIAL.values()]
    texts += [line for line in (DATA / "hard_negatives.txt").read_text(encoding="utf-8").splitlines() if line]
    texts += [json.loads(line)["text"] for line in (DATA / "positives.jsonl").read_text(encoding="utf-8").splitlines()]
    for text in texts:
        assert_same(text)


@pytest.fixture(scope="module")
def default_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    paths = build_default_corpus(tmp_path_factory.mktemp("corpus"), max_mb=2)
    return [json.loads(line)["text"] for path in paths for line in path.read_text(encoding="utf-8").splitlines()]


@native
def test_native_scan_equals_reference_on_the_default_corpus(default_corpus: list[str]) -> None:
    assert len(default_corpus) > 100
    redactor = Redactor()
    for text in default_corpus:
        assert scan(text) == scan_reference(text)
        got = redactor.redact(text)
        with reference_scanner():
            assert redactor.redact(text) == got


@native
def test_prescan_takes_any_str_and_only_str() -> None:
    for text in ("", "@", "\ud800@\udfff", "1" * 100, "a@b.cc\U0001f600", "\x00" * 10):
        triggers._prescan.scan(text)
        assert scan(text) == scan_reference(text)
    with pytest.raises(TypeError):
        triggers._prescan.scan(b"a@b.cc")
    with pytest.raises(ValueError):
        triggers._prescan.keywords("ab", "abc")


@pytest.mark.skipif(sys.maxunicode < 0x10FFFF, reason="needs a full Unicode build")
def test_lower_case_facts_the_keyword_search_relies_on() -> None:
    """_prescan folds ASCII case itself and sends only texts with U+0130/U+212A through str.lower()."""
    wider = {c for c in range(0x110000) if len(chr(c).lower()) != 1}
    assert wider == {0x130}
    letters = {ch for word in _KEYWORDS for ch in word}
    into_keywords = {c for c in range(0x80, 0x110000) if chr(c).lower() in letters and chr(c) not in letters}
    assert into_keywords == {0x212A}
