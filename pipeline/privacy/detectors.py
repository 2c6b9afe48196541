"""Pattern + validator detectors for contact data, network addresses and national/financial numbers.

Every pattern is linear-time on any input: quantifiers are bounded or possessive, and each pattern starts with a
character class followed by a fixed-width negative lookbehind (so the regex engine can skip ahead with its
first-character scan, and a run of 50 MB of digits or letters offers only one starting position).
A match is a candidate; the validators in `validators.py` decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from lmforge.pipeline.privacy import versions
from lmforge.pipeline.privacy.validators import (
    IBAN_LENGTHS,
    card_prefix_ok,
    cn_id_ok,
    counting_digits,
    country_code_ok,
    digits_of,
    iban_ok,
    isbn13_ok,
    luhn_ok,
    negative_context,
    public_ip,
    ssn_ok,
    trivial_digits,
)

Hit = tuple[int, int, str]

# "Not glued to a word or to a number": no ASCII alnum before, and no digit+separator before (decimals, dates,
# version strings, invoice numbers like INV-2021-…).
_AFTER = r"(?![0-9A-Za-z_])(?![\-.,/:][0-9])"
# The same for numbers whose own shape rules out a decimal or a thousands group (cards, SSNs, US and Chinese mobile
# phones): a comma next to them separates fields, as in the CSV row `Jane,536-22-1234,415-555-0173`.
_AFTER_FIELD = r"(?![0-9A-Za-z_])(?![\-./:][0-9])"
_NOT_IN_NUMBER = r"(?<![0-9][\-./:])"
# `+49 30 1234567` may also be a signed number: a comma after it stays a decimal one when one or two digits follow.
_AFTER_SIGNED = _AFTER_FIELD + r"(?!,[0-9]{1,2}(?![0-9]))"
#: `415-555-0173x12`: an extension glued on ends the number (it is left as it is; ` ext. 12` needs nothing here).
_EXTENSION = r"(?=[xX][0-9])"
#: `415-555-0173/0174`, `030 1234567/8`: the last digits of a second line after a slash belong to the number.
_ALTERNATIVE = r"(?P<alt>/\d{1,4})?"

#: Combining marks: in decomposed (NFD) text, which `lmforge pii` takes as given, `jürgen` is `ju\u0308rgen`, and a
#: mark is not a `\w`. A local part runs through them.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_EMAIL_LOCAL = rf"[\w+\-%{_MARKS}](?<![\w.+\-%{_MARKS}][\w+\-%{_MARKS}])[\w.+\-%{_MARKS}]{{0,63}}"
#: A TLD may be followed by a lone '_' (Markdown's `_jane@example.org_`), not by `_name` (`a@b.weight_decay`). Besides
#: Latin and non-Latin TLDs: one that mixes Latin with Cyrillic or Greek look-alikes (`example.сom` with a Cyrillic
#: `с`, which renders and is read as `.com`), and an internationalized TLD in its ASCII form (`example.xn--p1ai`).
_TLD = (
    r"(?:[A-Za-z]{2,24}(?![A-Za-z0-9\-]|_\w)|(?i:xn--)[A-Za-z0-9]{2,59}(?![\w\-])|[^\W\d_A-Za-z]{2,12}(?![\w\-])"
    r"|[A-Za-z\u0370-\u03ff\u0400-\u04ff]{2,24}(?![\w\-]))"
)
_EMAIL_DOMAIN = rf"(?:[\w\-{_MARKS}]{{1,63}}\.){{1,8}}{_TLD}"
#: `first.last@203.0.113.9`: an address at a dotted quad (redacting only the quad would leave the name behind), also
#: as RFC 5321's address literal in brackets, `first.last@[203.0.113.9]`.
_EMAIL_AT_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}(?![\w\-]|\.\w)|\[(?:\d{1,3}\.){3}\d{1,3}\]"
#: `jane@localhost`: a user of the machine (`_GENERIC_ACCOUNTS` says which names are service accounts, not people).
_EMAIL_AT_LOCALHOST = r"localhost(?![\w\-]|\.\w)"
#: `jane@@example.com`: a doubled '@' (a typo, or a guard against scrapers) still makes an address.
_EMAIL = re.compile(_EMAIL_LOCAL + "@@?(?:" + _EMAIL_DOMAIN + "|" + _EMAIL_AT_IPV4 + "|" + _EMAIL_AT_LOCALHOST + ")")
#: `"john doe"@example.com`: RFC 5321's quoted local part, which may hold spaces and runs of dots. Its content is
#: everything up to the next quote (so the quote before it is the opening one), with no line break, '@' or brackets.
_EMAIL_QUOTED = re.compile(r'"[^"\r\n\t@<>()\[\]:;]{1,64}"@(?:' + _EMAIL_DOMAIN + "|" + _EMAIL_AT_IPV4 + ")")
#: Names at localhost that are the service or example accounts of docs and configs (`postgres://postgres@localhost`,
#: `root@localhost`), not people.
_GENERIC_ACCOUNTS = frozenset(
    ["root", "admin", "administrator", "user", "username", "usr", "postgres", "postgresql", "mysql", "mongo",
     "mongodb", "redis", "rabbitmq", "guest", "test", "tester", "testuser", "demo", "nobody", "www-data", "www",
     "git", "ubuntu", "ec2-user", "centos", "debian", "fedora", "pi", "vagrant", "docker", "jenkins", "deploy",
     "deployer", "oracle", "sa", "dbuser", "db", "app", "appuser", "me", "you", "name", "myuser", "myname",
     "yourname", "your-name", "your_name", "someone", "somebody", "example", "foo", "bar", "postmaster",
     "webmaster", "hostmaster", "mail", "mailer", "daemon", "service", "system", "sys", "local", "localuser",
     "default", "anonymous", "ftp", "apache", "nginx", "hadoop", "spark", "airflow", "superset", "grafana"]
)  # fmt: skip
#: The '@' and the dots spelled out, in brackets or spaced: `jane [at] example [dot] com`, `jane at example dot com`;
#: in brackets also as German pages write them, `jane(ät)example(punkt)de` and, glued to the names around it,
#: `max(a)beispiel.de`, and the dot in other languages' words (`[punkt]`, `(punto)`, `(point)`, `(ponto)`, `(punt)`).
_AT = r"(?:\s?(?:[\[\(\{<]\s?(?:at|AT|At|@|ät|Ät|ÄT)\s?[\]\)\}>]|\s(?:at|AT)\s)\s?|\([aA]\))"
_DOT = r"\s?(?:[\[\(\{<]\s?(?:dot|DOT|Dot|\.|punkt|Punkt|PUNKT|punto|point|ponto|punt)\s?[\]\)\}>]|\s(?:dot|DOT)\s)\s?"
_OBFUSCATED_DOMAIN = r"(?:[\w\-]{1,63}(?:" + _DOT + r"|\.)){1,6}[A-Za-z]{2,24}\b"
#: The domain is no local part of a second address right after it: in `write me at jane.doe at gmail dot com` the
#: address is `jane.doe at gmail dot com`, not `me at jane.doe` (which left the domain behind).
_EMAIL_OBFUSCATED = re.compile(
    r"[\w+\-%](?<![\w.+\-%][\w+\-%])[\w.+\-%]{0,63}" + _AT + _OBFUSCATED_DOMAIN + f"(?!{_AT}{_OBFUSCATED_DOMAIN})"
)
#: An address whose '@' is escaped: `?email=jane%40example.org` in a URL, `jane&#64;example.org` in HTML, each also
#: escaped twice (`%2540`, a URL encoded again as a query value; `&amp;#64;`, an entity escaped again), and `\\@` in
#: a Perl or shell string (`"jane\\@example.org"`, where a bare '@' would interpolate an array).
_ESCAPED_AT = r"(?:%(?:25)?40|&(?:amp;)?#0{0,3}64;|&(?:amp;)?#[xX]0{0,3}40;|&(?:amp;)?commat;|\\@)"
#: An escaped '.': `jane%2Edoe%40example%2Ecom`, `jane&#46;doe&#64;example&#46;com` (also escaped twice).
_ESCAPED_DOT = r"(?:%(?:25)?2[Ee]|&(?:amp;)?#0{0,3}46;|&(?:amp;)?#[xX]0{0,3}2[Ee];)"
_ESCAPE = re.compile(_ESCAPED_AT + "|" + _ESCAPED_DOT)
_PERCENT_40, _AMPERSAND_AT = re.compile("%(?:25)?(?:40|2[EeBb])"), re.compile("&(?:amp;)?(?:#|commat;)")
#: The local part and the domain may hold escaped dots, and the '@' may then be a plain one (`escaped_email_hit`
#: wants some escape in the match: the rest are `_EMAIL`'s).
_EMAIL_ESCAPED = re.compile(
    rf"[\w+\-%](?<![\w.+\-%][\w+\-%])(?:[\w.+\-%]|{_ESCAPED_DOT}){{0,63}}?(?:{_ESCAPED_AT}|@)"
    rf"(?:[\w\-]{{1,63}}(?:\.|{_ESCAPED_DOT})){{1,8}}" + _TLD
)
#: What switches `_EMAIL_OBFUSCATED` on (the C pre-scan tests the same): the end of a bracketed `at` or '@'
#: (`jane [at] example.com`, `jane(@)example.com`), or a spelled dot (`_obfuscation_hint`).
_OBFUSCATION_HINTS = (
    "at]", "at)", "at}", "at>", "AT]", "AT)", "at ]", "at )", " dot ", " DOT ",
    "@]", "@)", "@}", "@>", "@ ]", "@ )", "@ }", "@ >",
)  # fmt: skip
#: The same with an umlaut (`jane(ät)example(punkt)de`), only looked for in texts that are not ASCII.
_UMLAUT_HINTS = ("ät]", "ät)", "ät}", "ät>", "ÄT]", "ÄT)", "ät ]", "ät )")
#: `max(a)beispiel.de`: the glued `(a)` is a hint only between names (`(a) first item` is none).
_GLUED_A = re.compile(r"[\w.+\-%]\([aA]\)[\w\-]")
_BRACKETED_A = re.compile(r"\([aA]\)")
_LOCAL_WORD = re.compile(rf"[\w.+\-%{_MARKS}]+")
#: `icon@2x.png`, `logo%401.5x.webp`: a retina image's scale suffix, not an address (image extensions are no TLDs).
_IMAGE_EXTENSION = r"\.(?i:png|jpe?g|gif|webp|svg|bmp|ico|tiff?|avif|heic)$"
_SCALED_IMAGE = re.compile(r"(?:[@;]|%(?:25)?40)\d{1,2}(?:\.\d{1,2})?x" + _IMAGE_EXTENSION)
#: The extensions of images and other files, which no top-level domain is (`file@1.txt`, `archive.zip@member.pkl`).
_FILE_EXTENSIONS = frozenset(
    ["png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "tif", "tiff", "avif", "heic", "txt", "json", "yaml",
     "yml", "csv", "log", "cfg", "ini", "toml", "html", "htm", "xml", "pdf", "exe", "dll", "bin", "dat", "tmp", "bak",
     "lock", "whl", "tgz", "pyc", "pyi", "ipynb", "rst", "tex", "npy", "npz", "pkl", "pickle", "onnx", "parquet",
     "asc", "sig", "gpg", "pem", "crt"]
)  # fmt: skip
#: `scheme://user:` right before a match: what follows up to the '@' is the URL's password (secrets._URL_PASSWORD).
_URL_USER = re.compile(r"://[^\s:/@]{0,64}:$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")

#: `+44 20 7946 0958`, `+49 (0)30 1234567`, and `(+44) 20 7946 0958`, whose country code sits in parentheses.
_PHONE_INTL = re.compile(
    r"\+(?<![0-9A-Za-z_+]\+)\d++(?:(?<=\(\+\d)\)|(?<=\(\+\d\d)\)|(?<=\(\+\d\d\d)\))?"
    r"(?:(?:[ \-./]{1,2}| / |(?<=\))|\s?(?=\())\(?\d++\)?){0,6}+" + f"(?:{_EXTENSION}|{_AFTER_SIGNED})",
    re.ASCII,
)
_NO_NUMBER_BEFORE = r"(?<![0-9A-Za-z_])" + _NOT_IN_NUMBER
_PHONE_US = re.compile(
    r"(?:1(?<![0-9A-Za-z_]1)(?<![0-9][\-./:]1)[ \-.]?|(?=[2-9(])" + _NO_NUMBER_BEFORE + ")"
    r"(?:\(\d{3}\)[ ]?|\d{3}[\-. ])\d{3}[\-. ]\d{4}" + _ALTERNATIVE + f"(?:{_EXTENSION}|{_AFTER_FIELD})",
    re.ASCII,
)
#: A trunk or area code, then groups: `030 1234567`, `089 / 12 34 56 78`, `089 - 123 45 67`, `(030) 1234567`, after
#: a `00` international prefix a one-digit area code, as in France: `0033 1 42 68 53 00`, and France's dotted pairs,
#: `01.42.68.53.00` (exactly five pairs: other dotted numbers are versions, dates and addresses). After `00` and a
#: country code, the trunk `(0)` that Germans keep: `0049 (0)30 12345678`. Russia's trunk prefix 8 before a
#: three-digit area code in parentheses and the 3-2-2 local number: `8 (495) 123-45-67` (that whole shape only: a
#: volume, its year and pages, `8 (2001) 123-130`, is a citation). Brazil's two-digit area code (no 0 in it) in
#: parentheses before the 4-4 or 9+4-4 local number, which Brazil writes without a trunk prefix: `(11) 98765-4321`,
#: `(21) 2345-6789` (that whole shape only; `national_phone_hit` tells an issue and its pages apart).
_PHONE_NATIONAL = re.compile(
    r"(?:0(?<![0-9A-Za-z_/]0)(?<![0-9][\-.,/:]0)"
    r"(?:[1-9](?:\.\d\d){3}\.(?=\d\d(?![0-9]))|0\d{1,3}[ \-](?:\d[ \-]|\(0\) ?)|\d{1,4}(?: / | - |[ /\-]|(?=\d)))"
    r"|\((?<![0-9A-Za-z_]\()(?:0\d{1,4}\)\s?|[1-9][1-9]\)\s?(?=9?\d{4}-\d{4}(?![0-9])))"
    r"|8(?<![0-9A-Za-z_/]8)(?<![0-9][\-.,/:]8)[ \-]?\([3-9]\d\d\) ?(?=\d{3}[ \-]?\d\d[ \-]?\d\d(?![0-9])))"
    r"\d{2,8}(?:[ \-]\d{2,8}){0,3}" + _ALTERNATIVE + f"(?:{_EXTENSION}|{_AFTER})",
    re.ASCII,
)
#: `+1,000,000`, `+35236450.6`: a signed number, not a phone.
_SIGNED_NUMBER = re.compile(r"\+\d{1,3}(?:[.,]\d{3})+|\+\d+[.,]\d{1,2}")
#: `EDT-0400 / 2002-10-27`, `+0200/2024-05-01`: a time-zone offset before an ISO date, not a phone.
_ISO_DATE = re.compile(r"(?:19|20)\d\d-[01]\d-[0-3]\d")
_PHONE_CN_MOBILE = re.compile(
    r"1(?<![0-9A-Za-z_]1)(?<![0-9][\-./:]1)[3-9]\d(?:\d{8}|[ \-]\d{4}[ \-]\d{4})" + _AFTER_FIELD, re.ASCII
)

#: Grouped by spaces or dashes or not at all, or by dots in the two shapes cards print in (`4539.1488.0343.6467`,
#: Amex `3782.822463.10005`: other dotted numbers are versions, OIDs and addresses).
_CARD = re.compile(
    r"[2-6](?<![0-9A-Za-z_][2-6])(?<![0-9][\-./:][2-6])\d{3}(?:(?:[ \-]?\d{2,6}){2,4}|(?:\.\d{4}){3}|\.\d{6}\.\d{5})"
    + _AFTER_FIELD,
    re.ASCII,
)
#: `536-22-1234`; spaced or compact (`536 22 1234`, `536221234`) only next to a context word (`ssn_hit`).
_SSN = re.compile(r"\d(?<![0-9A-Za-z_]\d)(?<![0-9][\-./:]\d)(\d{2})([ \-]?)(\d{2})\2(\d{4})" + _AFTER_FIELD, re.ASCII)
#: The word before a spaced or compact SSN. Like the patterns above it starts with a class and a lookbehind, so the
#: search only stops at an 's' or '社' (most nine-digit numbers have no such word before them).
_SSN_CONTEXT = re.compile(
    r"(?i)[s社](?<![a-z][s社])(?:(?<=s)(?:sn|ocial security|oc\.? sec\.?|ozialversicherung\w*)|(?<=社)会安全号码?)"
    r"[\w\s:#.,]{0,24}$"
)
_CN_ID = re.compile(
    r"[1-8](?<![0-9A-Za-z_][1-8])\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
    r"(?![0-9A-Za-z_])",
    re.ASCII,
)
#: Upper or lower case, grouped by spaces or dashes or not at all; `iban_hit` wants one case and the checksum.
_IBAN = re.compile(
    r"[A-Za-z](?<![0-9A-Za-z_][A-Za-z])[A-Za-z]\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}(?:[ \-]?[A-Za-z0-9]{1,4})?"
    r"(?![0-9A-Za-z_])",
    re.ASCII,
)

_IPV4 = re.compile(r"\d(?<![0-9A-Za-z_.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![0-9A-Za-z_]|\.\w)", re.ASCII)
_IPV6 = re.compile(r"[0-9A-Fa-f:](?<![0-9A-Za-z_:.][0-9A-Fa-f:])[0-9A-Fa-f:]{2,38}(?![0-9A-Za-z_:])")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
#: Runs of at least eight digits with short separators: every number-based type lies in (or next to) one.
_DIGIT_CLUSTER = re.compile(r"[0-9](?:(?:[ \-./()]{0,2}| / | - )[0-9]){7,}+")
#: Dotted quads start with a '.'-led run; a literal first character lets the regex engine skip ahead fast.
_IPV4_HINT = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.")
#: An '@' between an address-like character and a domain-like one or an address literal's '[' (decorators and
#: @mentions do not qualify), or a second '@' before those (`jane@@example.com`).
_AT_HINT = re.compile(rf"@(?<=[\w.+\-%{_MARKS}]@)(?=@?[\w\-\[])")
_SEPARATORS = " -./()"
#: The zeros of the decimal digits of Arabic (U+0660), Persian and Urdu (U+06F0), Devanagari (U+0966) and Bengali
#: (U+09E6): phones in those pages are written in them (`+٩٧١ ٥٠ ١٢٣ ٤٥٦٧`), and the ASCII twin below reads them as
#: 0-9 (the C pre-scan flags them as `fullwidth`).
_OTHER_ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6)
#: Full-width digits and '@' (`电话：０２１－６３５８１２４７`, `zhang＠example.cn`; NFC cleaning keeps them) and the
#: full-width letters and separators around them, mapped one character for one to ASCII: the detectors run on that twin, so the
#: offsets are those of the text. Texts without a full-width digit or '@' are scanned as they are.
ASCII_TWINS = {
    **{0xFF10 + d: str(d) for d in range(10)},
    **{zero + d: str(d) for zero in _OTHER_ZEROS for d in range(10)},
    **dict.fromkeys([0xFF20], "@"),
    **{ord(w): a for w, a in zip("＋－．／（）", "+-./()", strict=True)},
    **{0xFF21 + i: chr(ord("A") + i) for i in range(26)},  # ＩＢＡＮ letters, the Ｘ of a Chinese ID
    **{0xFF41 + i: chr(ord("a") + i) for i in range(26)},
}
FULLWIDTH = re.compile("[\uff10-\uff19\uff20\u0660-\u0669\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef]")
Window = tuple[int, int]


def _merge(spans: list[Window]) -> list[Window]:
    merged: list[Window] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def number_windows(text: str) -> tuple[list[Window], list[Window]]:
    """Where number-based PII can be: (phone/card/SSN/ID windows, IBAN windows), each merged.

    One fast pass over the text; the detectors then run only inside these windows, so prose with a few years and
    page numbers costs almost nothing.
    """
    n = len(text)
    runs: list[Window] = []
    iban: list[Window] = []
    for m in _DIGIT_CLUSTER.finditer(text):
        start, end = m.span()
        runs.append((max(0, start - 4), min(n, end + 4)))
        iban.append((max(0, start - 12), min(n, end + 24)))
    return _merge(runs), _merge(iban)


def _hint_windows(hint: re.Pattern[str], text: str, before: int, after: int) -> list[Window]:
    """Merged windows around each hint; when hints are dense (adversarial input) the whole text is one window."""
    n = len(text)
    limit = n // (before + after) + 16
    windows: list[Window] = []
    for i, m in enumerate(hint.finditer(text)):
        if i > limit:
            return _everywhere(text)
        windows.append((max(0, m.start() - before), min(n, m.end() + after)))
    return _merge(windows)


def _everywhere(text: str) -> list[Window]:
    return [(0, len(text))]


def find_emails(text: str) -> Iterator[Hit]:
    if "@" in text:
        yield from _hits(email_hit, text, _in(_EMAIL, text, _hint_windows(_AT_HINT, text, 64, 256)))
        if '"@' in text:
            yield from _hits(quoted_email_hit, text, _EMAIL_QUOTED.finditer(text))
    if _obfuscation_hint(text):
        yield from _hits(obfuscated_email_hit, text, _EMAIL_OBFUSCATED.finditer(text))


def _obfuscation_hint(text: str) -> bool:
    """Some form of `_AT` ends in the text (the C pre-scan's `obfuscation_hint`): `_EMAIL_OBFUSCATED` may match."""
    if any(hint in text for hint in _OBFUSCATION_HINTS):
        return True
    if not text.isascii() and any(hint in text for hint in _UMLAUT_HINTS):
        return True
    return _BRACKETED_A.search(text) is not None and _GLUED_A.search(text) is not None


#: The digits of a phone in a URL after its '+': groups joined by encoded spaces, '+', '-' or '.'.
_ESCAPED_PHONE_BODY = r"[0-9]++(?:(?:%(?:25)?20|[+\-.])[0-9]++){0,6}+(?![0-9A-Za-z_])"
#: `?phone=%2B14155550173`, `%2B44%2020%207946%200958`, `%2B44+20+7946+0958`: a phone in a URL's query string, its
#: '+' percent-encoded and its spaces as `%20` or (form encoding) '+'; also encoded twice (`%252B44%2520…`).
_PHONE_ESCAPED = re.compile(
    r"%(?:25)?2[Bb](?<![0-9]%2[Bb])(?<![0-9]%252[Bb])" + _ESCAPED_PHONE_BODY,
    re.ASCII,
)
#: The same with its '+' left as it is and only its spaces encoded (`tel:+1%20415%20555%202671`, `?to=+44%2020%207946
#: %200958`), or a national number with encoded spaces after the `tel:` scheme (`tel:030%201234567`).
_PHONE_SPACES_ESCAPED = re.compile(
    r"(?:\+(?<![0-9A-Za-z_+]\+)|(?<=[Tt][Ee][Ll]:))(?=[0-9]{1,5}%(?:25)?20)" + _ESCAPED_PHONE_BODY, re.ASCII
)
_PERCENT_PLUS, _PERCENT_SPACE = re.compile("%(?:25)?2[Bb]"), re.compile("%(?:25)?20")
#: Where `_PHONE_SPACES_ESCAPED` may match: a plain '+' or `tel:`, a country or area code and an encoded space (a
#: digit before an encoded space first: a search that starts with a class of characters is the faster one).
_DIGIT_ENCODED_SPACE = re.compile(r"[0-9]%(?:25)?20")
_ENCODED_SPACE_PHONE = re.compile(r"(?:\+|[Tt][Ee][Ll]:)[0-9]{1,5}%(?:25)?20")


def find_escaped_values(text: str) -> Iterator[Hit]:
    """Addresses with a percent-encoded or HTML-escaped '@' or '.', and phones with a percent-encoded '+' or spaces;
    both scan paths run this (`scanner._spans`)."""
    # A one-character test first (str's search for one character is the fastest), then a regex with a literal
    # first character, which beats `"%40" in text` 2-4x on the long texts that hold a '%' or '&' (code, docs).
    percent = "%" in text and _PERCENT_40.search(text)
    if percent or ("&" in text and _AMPERSAND_AT.search(text)) or "\\@" in text:
        yield from _hits(escaped_email_hit, text, _in(_EMAIL_ESCAPED, text, _hint_windows(_ESCAPE, text, 64, 256)))
        if percent and _PERCENT_PLUS.search(text):
            yield from _hits(escaped_phone_hit, text, _PHONE_ESCAPED.finditer(text))
    if ("%20" in text or "%2520" in text) and _DIGIT_ENCODED_SPACE.search(text) and _ENCODED_SPACE_PHONE.search(text):
        yield from _hits(escaped_phone_hit, text, _PHONE_SPACES_ESCAPED.finditer(text))


def escaped_phone_hit(text: str, m: re.Match[str]) -> Hit | None:
    """`intl_phone_hit`'s digit checks on the digits after `%2B` or '+' (the `%20` between them are no digits); after
    `tel:`, those of a national number."""
    value = _PERCENT_SPACE.sub(" ", m.group())
    plus = _PERCENT_PLUS.match(value)
    if plus is None and value[0] != "+":
        digits = digits_of(value)
        return (m.start(), m.end(), "PHONE") if 9 <= len(digits) <= 15 and not trivial_digits(digits) else None
    digits = digits_of(value[plus.end() if plus else 1 :])
    if 8 <= len(digits) <= 15 and country_code_ok(digits) and not trivial_digits(digits):
        return m.start(), m.end(), "PHONE"
    return None


def escaped_email_hit(text: str, m: re.Match[str]) -> Hit | None:
    """`email_hit` of a match with an escaped '@' or '.' (one without any is a plain address, `_EMAIL`'s)."""
    return email_hit(text, m) if _ESCAPE.search(m.group()) else None


def quoted_email_hit(text: str, m: re.Match[str]) -> Hit | None:
    """`"john doe"@example.com`; the quotes must hold a letter or digit (`" "@x.org` is no mailbox)."""
    return email_hit(text, m) if any(map(str.isalnum, m.group().partition("@")[0])) else None


#: Mailman's pipermail archives (mail.python.org and most project lists) print every address as `jane.doe at
#: example.org`: `From: jane.doe at example.org (Jane Doe)`, `Jane Doe <jane.doe at example.org> wrote:`. Prose has
#: the same shape (`available at python.org`), so `spelled_email_hit` wants more than the shape (see there).
#: `_SPELLED_AT` is " at " before something dotted, or the forms that hide an address on purpose, " -at- " and
#: "_at_" (`jane_at_example.org`), which code identifiers also spell the dot in (`jane_at_example_dot_com`); the C
#: pre-scan says whether there is one (`spelled`).
_SPELLED_AT = re.compile(
    r"(?: (?:at|AT) | -(?:at|AT)- |_(?:at|AT)_)(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}\.[A-Za-z])"
    r"|_(?:at|AT)_(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}_(?:dot|DOT)_[A-Za-z])"
    r"|(?: -(?:at|AT)- |-(?:at|AT)-)(?=[A-Za-z0-9][A-Za-z0-9\-]{0,62}?(?:-(?:dot|DOT)-| -(?:dot|DOT)- |\.)[A-Za-z])"
)
#: After `-at-` (`jane-at-example-dot-com`) or ` -at- ` the dots may be spelled `-dot-` or ` -dot- ` too.
_DASH_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9]{1,63}(?:-(?!(?:dot|DOT)-)[A-Za-z0-9]{1,63}){0,4}(?:\.|-(?:dot|DOT)-| -(?:dot|DOT)- )){1,6}"
    r"([A-Za-z]{2,24})(?![\w\-@/(\[]|\.\w)",
    re.ASCII,
)
_SPELLED_LOCAL = re.compile(r"(?<![\w.+\-%])[\w+\-%][\w.+\-%]{0,63}$")
_SPELLED_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,6}([A-Za-z]{2,24})(?![\w\-@/(\[]|\.\w)", re.ASCII
)
#: After `_at_`, the dots may be spelled `_dot_` too (`jane_at_mail_dot_example_dot_org`).
_UNDERSCORE_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.|_(?:dot|DOT)_)){1,6}([A-Za-z]{2,24})"
    r"(?![\w\-@/(\[]|\.\w)",
    re.ASCII,
)
#: Two-letter endings that name files far more often than countries (`see setup.py at github.com`).
_FILE_LIKE_TLDS = frozenset(
    ["py", "md", "sh", "js", "ts", "rs", "pl", "cc", "cs", "go", "rb", "gz", "xz", "so", "ps", "hs", "ml", "kt", "db"]
)
_MAIL_TLDS = frozenset(
    ["com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "mobi", "museum", "aero", "coop",
     "jobs", "travel", "email", "mail", "online", "site", "tech", "xyz", "app", "dev", "cloud", "systems",
     "technology", "solutions", "company", "network", "science", "academy", "institute"]
)  # fmt: skip
#: The endings `name_at_host.tld` may have: in code `_at_` joins names (`created_at_utc.date`,
#: `row.updated_at_field.id`), so only mail domains' endings count there, not attribute names (`.name`, `.id`, `.to`).
_UNDERSCORE_TLDS = frozenset(
    ["com", "org", "net", "edu", "gov", "io", "co", "uk", "de", "fr", "nl", "ru", "cn", "jp", "ca", "au", "ch", "es",
     "se", "pl", "br", "kr", "dk", "fi", "cz", "hu", "gr", "pt", "ie", "nz", "za", "mx", "ar", "tw", "hk", "sg", "ua",
     "ro", "eu", "info"]
)  # fmt: skip
#: `the numpy.ndarray at numpy.org`: an article before the name says it is a thing, not a mailbox.
_ARTICLE_BEFORE = re.compile(r"(?<![\w\-])(?i:the|an?) $")
#: A local part that is a file, a version or a package (`README.rst at github.com`, `v2.0 at pypi.org`, `Node.js`).
_NOT_A_MAILBOX = re.compile(
    r"(?i).*\.(?:py|pyi|pyx|ipynb|md|rst|txt|cfg|ini|toml|ya?ml|json|xml|html?|css|js|ts|c|h|cpp|hpp|java|go|rs"
    r"|rb|pl|sh|zip|gz|tgz|whl|tar|exe|dll|so|png|jpe?g|gif|svg|pdf|csv|lock|log|net)|[v]?\d+(?:\.\d+)*\w{0,8}"
)
#: What precedes the address on its line: a mail header (`From: `, `> Cc: ` in a quote) or an mbox `From ` line.
_MAIL_HEADER = re.compile(
    r"(?:> ?)*(?:(?i:from|to|cc|bcc|reply-to|sender|author|maintainer|e-?mail|contact)\s?:[ \t]{0,3}|From )",
    re.ASCII,
)


def _mail_ending(tld: str) -> bool:
    """A top-level domain that mail addresses end in: a generic one of `_MAIL_TLDS` or a country's (two letters that
    name no kind of file)."""
    return (len(tld) == 2 and tld not in _FILE_LIKE_TLDS) or tld in _MAIL_TLDS


def find_spelled_emails(text: str) -> Iterator[Hit]:
    """Addresses written `local at domain.tld` (pipermail): both scan paths run this, on the text as given."""
    for at in _SPELLED_AT.finditer(text):
        first = text[at.start()]
        domain = _UNDERSCORE_DOMAIN if first == "_" else _DASH_DOMAIN if "-" in at.group() else _SPELLED_DOMAIN
        m = domain.match(text, at.end())
        if m is not None and (hit := spelled_email_hit(text, at.start(), m)) is not None:
            yield hit


def spelled_email_hit(text: str, at: int, domain: re.Match[str]) -> Hit | None:
    """`local at domain.tld` is an address when the domain ends in a mail TLD and the local part is no file, version
    or word alone: it holds one of `._+` or a digit (`jane.doe`, `j_doe`, `jdoe42`), or a mail header starts the
    line, or `<…>` encloses it. `jane -at- example.org` and `jane_at_example.org` hide an address on purpose and need
    no more than their shape (with `_at_`, a mail domain's ending)."""
    tld = domain.group(1).lower()
    glued = text[at] in "_-"  # `_at_`, `-at-`: glued to the names around it, as words in identifiers and URL slugs are
    hidden = glued or text[at + 1] == "-"  # `_at_`, `-at-`, ` -at- `: written so on purpose
    if glued:
        if tld not in _UNDERSCORE_TLDS:
            return None
    elif not _mail_ending(tld):
        return None
    local = _SPELLED_LOCAL.search(text, max(0, at - 65), at)
    if local is None or local.group()[-1] in ".-+%" or _NOT_A_MAILBOX.fullmatch(local.group()):
        return None
    start, end = local.start(), domain.end()
    name = local.group()
    if text[at] == "-" and start and text[start - 1] == "/":
        return None  # `/blog/a-look-at-python.org`: a URL's slug
    # `numpy.ndarray at numpy.org`, `pandas.DataFrame at pandas.pydata.org`: a project's object at the project's site
    if "." in name and name.partition(".")[0].lower() == domain.group().partition(".")[0].lower():
        return None
    if not hidden and _ARTICLE_BEFORE.search(text, max(0, start - 5), start):
        return None
    if not hidden and not any(ch in name for ch in "._+0123456789"):
        line = text.rfind("\n", 0, start) + 1
        enclosed = start and text[start - 1] == "<" and text[end : end + 1] == ">"
        if not enclosed and not _MAIL_HEADER.fullmatch(text, line, start):
            return None
    return start, end, "EMAIL"


#: `jane dot ` before an obfuscated address's local part: the local part spelled out too (read backwards).
_SPELLED_LOCAL_DOT = re.compile(r"[\w+\-%]{1,63}" + _DOT + "$")


def _generic_account(local: str) -> bool:
    """A service or example account (`root`, `postgres`), or a one-letter name (`a@localhost` in a test)."""
    return len(local) < 2 or local.lower() in _GENERIC_ACCOUNTS


#: Words that stand before ` at host.tld` in prose (`available at python.org`, `docs at readthedocs.io`), or before
#: `@host.tld` (`works with @live.com`), not names.
_PROSE_BEFORE_AT = frozenset(
    ["available", "hosted", "located", "found", "published", "released", "online", "here", "there", "us", "them",
     "it", "is", "are", "was", "be", "look", "visit", "docs", "documentation", "site", "website", "page", "pages",
     "served", "running", "deployed", "mirrored", "archived", "listed", "described", "documented", "maintained",
     "developed", "downloaded", "installed", "tracked", "reported", "discussed", "issues", "source", "code",
     "repository", "repo", "project", "package", "packages", "information", "details", "info", "more", "tutorial",
     "with", "from", "to", "for", "on", "in", "by", "via", "and", "or", "of", "as", "like", "than"]
)  # fmt: skip


def _plain_at_not_mailbox(text: str, m: re.Match[str]) -> bool:
    """`available at python.org`, `the numpy.ndarray at numpy.org`, `break at autograd.grad`: `_EMAIL_OBFUSCATED`'s
    plain form (` at ` and real dots, no bracket and no spelled dot) runs in any text that has some hint elsewhere,
    so it takes `spelled_email_hit`'s tests of what is no mailbox: a host (no URL's path after it) with a mail
    domain's ending; not a prose word, a word after an article, a file or version, or a project's object at the
    project's site."""
    value = m.group()
    local, sep, domain = value.partition(" at ") if " at " in value else value.partition(" AT ")
    if not sep or any(ch in value for ch in "[({<") or "dot" in domain.lower().split():
        return False
    host = _SPELLED_DOMAIN.match(text, m.end() - len(domain.lstrip()))
    if host is None or not _mail_ending(host.group(1).lower()):
        return True  # `tested at test_validation.py`, `break at autograd.grad`, `viewer at pytorch.org/memory_viz`
    local = local.strip()
    if local.lower() in _PROSE_BEFORE_AT or _NOT_A_MAILBOX.fullmatch(local):
        return True
    if _ARTICLE_BEFORE.search(text, max(0, m.start() - 5), m.start()):
        return True
    return "." in local and local.partition(".")[0].lower() == domain.strip().partition(".")[0].lower()


def obfuscated_email_hit(text: str, m: re.Match[str]) -> Hit | None:
    """`email_hit` of `doe at gmail dot com`, taking in the words of a local part spelled out before it (`jane dot
    doe at gmail dot com`, up to three): they are the person's name, which the address alone would leave behind."""
    if _plain_at_not_mailbox(text, m):
        return None
    hit = email_hit(text, m)
    if hit is None:
        return None
    start = hit[0]
    for _ in range(3):
        before = _SPELLED_LOCAL_DOT.search(text, max(0, start - 80), start)
        if before is None or (
            before.start() and (text[before.start() - 1].isalnum() or text[before.start() - 1] == "_")
        ):
            break
        start = before.start()
    return start, hit[1], hit[2]


#: A percent-escape of a character that no local part holds: `%3F` '?', `%3D` '=', `%26` '&', `%2F` '/', `%3A` ':',
#: `%20` … (also escaped twice, `%253D`). In `?next=%3Fto%3Dalice%40example.com` it ends the query text before the
#: address. Not '+', '-', '.', '_', letters and digits, nor `%25` alone (the start of `%2540`), nor the bytes of
#: UTF-8 (`jos%C3%A9%40example.com`).
_ESCAPED_DELIMITER = re.compile(r"%(?:25)?(?:[01][0-9A-Fa-f]|2[0-46-9ACFacf]|3[A-Fa-f]|5[B-Eb-e]|60|7[B-Fb-f])")
_AT_OR_ESCAPED_AT = re.compile("@|" + _ESCAPED_AT)


def _after_escaped_delimiter(value: str) -> int:
    """Where the local part of `value` (a match) starts after its last escaped delimiter (0 when it has none)."""
    if "%" not in value:
        return 0
    at = _AT_OR_ESCAPED_AT.search(value)
    cut = 0
    for d in _ESCAPED_DELIMITER.finditer(value, 0, len(value) if at is None else at.start()):
        cut = d.end()
    return cut


def email_hit(text: str, m: re.Match[str]) -> Hit | None:
    """In unspaced CJK prose `联系zhang@x.com` the word before the address is not part of a Latin local part; in a
    URL the escaped delimiters before it (`?next=%3Fto%3Dalice%40…`) are not either."""
    start, end = m.span()
    if cut := _after_escaped_delimiter(m.group()):
        start += cut
        if _AT_OR_ESCAPED_AT.match(text, start) or text.startswith(".", start):  # nothing left before the '@'
            return None
    if "x." in text[max(0, end - 10) : end] and _SCALED_IMAGE.search(m.group()):
        return None
    value = m.group()
    at, dot = value.find("@"), value.rfind(".")  # the plain '@'; escaped and spelt-out ones are left as they were
    if 0 < at < dot and value[dot + 1 :].lower() in _FILE_EXTENSIONS:
        # `badge/slack-@mlflow--users-CF0E5B.svg` is an image; `jane@example.org.png` is an address in a file name
        if "." not in value[at:dot]:
            return None
        end = m.start() + dot
    if text.startswith("(", end):
        return None  # `L@D@L.conjugate()`: a method called on a matrix product
    if at == 1 and start and text[start - 1] == "\\" and text[start] in "ntr":
        return None  # `"\n@triton.jit"`: an escaped line break before a decorator
    if text.endswith("@localhost", start, end) and _generic_account(text[start : end - 10]):
        return None
    if text.startswith("git@", start) and text[end : end + 1] in (":", "/"):
        return None  # `git@github.com:org/repo.git`, `ssh://git@host/repo`: a git remote's service account
    if start and text[start - 1] == ":" and _URL_USER.search(text, max(0, start - 72), start):
        return None  # `mailto://user:mypass@gmail.com`: a URL's password and host (secrets._URL_PASSWORD decides)
    if text.isascii():  # O(1) for str: then the local part is ASCII too
        return start, end, "EMAIL"
    local = _LOCAL_WORD.match(text, start, end)
    if local is None or local.group().isascii():
        return start, end, "EMAIL"
    cjk = [c.end() for c in _CJK.finditer(local.group())]
    if cjk and cjk[-1] < len(local.group()):
        start += cjk[-1]
    return start, end, "EMAIL"


def find_phones(text: str, windows: list[Window] | None = None) -> Iterator[Hit]:
    windows = _everywhere(text) if windows is None else windows
    if "+" in text:
        yield from _hits(intl_phone_hit, text, _PHONE_INTL.finditer(text))
    yield from _hits(us_phone_hit, text, _in(_PHONE_US, text, windows))
    yield from _hits(national_phone_hit, text, _in(_PHONE_NATIONAL, text, windows))
    yield from _hits(cn_mobile_hit, text, _in(_PHONE_CN_MOBILE, text, windows))
    yield from _hits(cued_phone_hit, text, _in(_PHONE_CUED, text, windows))


#: A North American number without the separators `_PHONE_US` wants (`4155552671`, `1 415 5552671`): the same
#: digits are ids, timestamps and counts everywhere in code and docs, so it counts only after a word that says phone
#: (`cued_phone_hit`). NANP: area code and exchange start with 2-9.
_PHONE_CUED = re.compile(
    r"(?:1(?<![0-9A-Za-z_]1)(?<![0-9][\-./:]1)[ \-.]?|(?=[2-9])" + _NO_NUMBER_BEFORE + ")"
    r"[2-9]\d\d[ \-.]?[2-9]\d\d[ \-.]?\d{4}" + f"(?:{_EXTENSION}|{_AFTER_FIELD})",
    re.ASCII,
)
#: Words (and symbols) right before a number that say it is a phone's: `Tel:`, `tel:` (RFC 3966 links), `Phone #`,
#: `call me at`, `☎`, `WhatsApp`, `电话：`. Only punctuation and spaces may stand between them and the number.
_PHONE_CUE = re.compile(
    r"(?:(?<![A-Za-z])(?i:t[eé]l(?:[eé](?:phone|fon|fono))?|phone(?: ?(?:no|number|nr))?"
    r"|ph|mob(?:ile)?|cell(?: ?phone)?|call(?: (?:me|us))?(?: (?:at|on))?|text (?:me|us)(?: (?:at|on))?|fax|sms"
    r"|whats ?app|hotline|dial|handy|tlf|fon)|[\u260e\u260f\U0001f4de\U0001f4f1\U0001f4f2]|电话|電話|手机|手機|携帯)"
    r"[\s:.#=\"'>()\-\uff1a]{0,4}$"
)


def cued_phone_hit(text: str, m: re.Match[str]) -> Hit | None:
    """A `_PHONE_CUED` number right after a phone word, with `us_phone_hit`'s digit checks."""
    start = m.start()
    if _PHONE_CUE.search(text, max(0, start - 24), start) is None:
        return None
    digits = digits_of(m.group())
    local = digits[1:] if len(digits) == 11 else digits
    if local[1:3] == "11" or trivial_digits(local) or negative_context(text, start):
        return None
    return start, m.end(), "PHONE"


def _hits(
    check: Callable[[str, re.Match[str]], Hit | None], text: str, matches: Iterable[re.Match[str]]
) -> Iterator[Hit]:
    for m in matches:
        hit = check(text, m)
        if hit is not None:
            yield hit


def intl_phone_hit(text: str, m: re.Match[str]) -> Hit | None:
    value = m.group()
    digits = digits_of(value.replace("(0)", ""))
    if (
        8 <= len(digits) <= 15
        and country_code_ok(digits)
        and not _SIGNED_NUMBER.fullmatch(value)
        and not trivial_digits(digits)
        and not ("-" in value and _ISO_DATE.search(value))
    ):
        return m.start(), m.end(), "PHONE"
    return None


def _main_number(m: re.Match[str]) -> str:
    """The match without its `/0174` alternative: the digit checks are about the number itself."""
    alt = m.start("alt")
    return m.group() if alt < 0 else m.string[m.start() : alt]


def us_phone_hit(text: str, m: re.Match[str]) -> Hit | None:
    digits = digits_of(_main_number(m))
    local = digits[1:] if len(digits) == 11 else digits
    if (
        len(local) == 10
        and local[0] in "23456789"
        and local[3] in "23456789"
        and local[1:3] != "11"
        and not trivial_digits(local)
        and not negative_context(text, m.start())
    ):
        return m.start(), m.end(), "PHONE"
    return None


def national_phone_hit(text: str, m: re.Match[str]) -> Hit | None:
    digits = digits_of(_main_number(m))
    longest = 17 if digits.startswith("00") else 12  # `0049 30 1234567`: "00" and an E.164 number (≤ 15 digits)
    if (
        9 <= len(digits) <= longest
        and not digits.startswith("000")  # no country code is 0: `shard-0001234567` is a zero-padded counter
        and not trivial_digits(digits)
        and not ("-" in m.group() and _ISO_DATE.search(m.group()))
        and not negative_context(text, m.start())
        and not _issue_and_pages(m.group())
    ):
        return m.start(), m.end(), "PHONE"
    return None


def _issue_and_pages(value: str) -> bool:
    """`(12) 1234-1256`, `(11) 2019-2021`: Brazil's phone shape, but an issue number and the pages (or years) of a
    citation, the second number a little above the first. A phone's halves are unrelated."""
    if not value.startswith("(") or value[1] == "0":
        return False
    first, _, second = value.rpartition(" ")[2].rpartition(")")[2].partition("-")
    return first.isdigit() and second.isdigit() and 0 < int(second) - int(first) <= 500


#: The key of an assignment, a dict entry or a log field right before a value: `free=`, `"total": `, `mem.used = `.
#: Code-like only: lower case first, or holding `_`, `.` or a digit (a capitalised word before a colon may be a
#: name, `Li: 138…`, and stays a cue-less label).
_VALUE_KEY = re.compile(
    r"(?<![\w.\-])-{0,2}(?:[a-z][\w.\-]{0,40}|[A-Z][\w.\-]{0,40}[_.\d][\w.\-]{0,40})"
    r"[\"']?[ \t]{0,2}[:=][ \t]{0,2}[\"']?$",
    re.ASCII,
)
#: Keys that name a person's contact or account: their value is the number of a person whatever its key's form.
_PERSONAL_KEY = re.compile(
    r"(?i)phone|tel|mob|cell|contact|fax|sms|msisdn|whats|wechat|weixin|wx|shouji|dianhua|handy|call|dial|user|acc"
    r"|login|member|customer|client|owner|name|person|people|staff|emp|admin|sender|recip|to$|from$"
)
#: `15482871808 bytes`, `13812345678 ms`: a unit after the number says it is a quantity.
_UNIT_AFTER = re.compile(r" ?(?:bytes?|[KMGT]i?B|B|ms|ns|us|\u00b5s|sec|seconds|blocks|pages|tokens|rows)(?![\w])")
#: The bare integers of a tuple or list before and after a number, up to its brackets: `(698095554475, 14118073569)`
#: and `[(445, 9), (17625560, 356454)]` in sympy's docs, `divmod(…)`'s `(15482871808, 1)` in a doctest.
_INTEGERS_BEFORE = re.compile(r"[(\[](?:\s{0,8}[-+]?\d{1,40}\s{0,8},)*\s{0,8}$")
_INTEGERS_AFTER = re.compile(r"(?:\s{0,8},\s{0,8}[-+]?\d{1,40})*\s{0,8},?\s{0,8}[)\]]")


def cn_mobile_hit(text: str, m: re.Match[str]) -> Hit | None:
    """`1[3-9]` and nine more digits: a Chinese mobile, unless a context word says otherwise (`negative_context`), or
    it is the value of a code-like key that names no person (`free=15482871808`, `"size": 13812345678` in psutil's
    and other docs: byte counts, ids and timestamps of that length are everywhere in code), or a unit follows it
    (`15482871808 bytes`), or it is one of the integers of a tuple or list (`_among_integers`). A phone word before
    it (`tel=`, `手机：`, `phone: `) always makes it a phone."""
    start = m.start()
    if trivial_digits(digits_of(m.group())) or negative_context(text, start):
        return None
    if _PHONE_CUE.search(text, max(0, start - 24), start) is None:
        key = _VALUE_KEY.search(text, max(0, start - 48), start)
        if key is not None and not _PERSONAL_KEY.search(key.group()):
            return None
        if _UNIT_AFTER.match(text, m.end()):
            return None
        if _among_integers(text, start, m.end()):
            return None
    return start, m.end(), "PHONE"


def _among_integers(text: str, start: int, end: int) -> bool:
    """`text[start:end]` is one of several bare integers in brackets (a tuple or list of numbers in code or its
    output), and neither a phone word nor a key that names a person (`phones = [139…, 138…]`) stands before them."""
    before = _INTEGERS_BEFORE.search(text, max(0, start - 160), start)
    if before is None or (after := _INTEGERS_AFTER.match(text, end)) is None:
        return False
    if "," not in before.group() and "," not in after.group():
        return False  # `Li Wei (13912345678)`: a number alone in parentheses
    bracket = before.start()
    if _PHONE_CUE.search(text, max(0, bracket - 24), bracket) is not None:
        return False
    key = _VALUE_KEY.search(text, max(0, bracket - 48), bracket)
    return key is None or _PERSONAL_KEY.search(key.group()) is None


def _in(pattern: re.Pattern[str], text: str, windows: list[Window]) -> Iterator[re.Match[str]]:
    for start, end in windows:
        yield from pattern.finditer(text, start, end)


def find_cards(text: str, windows: list[Window] | None = None) -> Iterator[Hit]:
    yield from _hits(card_hit, text, _in(_CARD, text, _everywhere(text) if windows is None else windows))


def card_hit(text: str, m: re.Match[str]) -> Hit | None:
    value = m.group()
    for end in _group_ends(value):
        digits = digits_of(value[:end])
        if (
            13 <= len(digits) <= 19
            and card_prefix_ok(digits)
            and luhn_ok(digits)
            and not isbn13_ok(digits)
            and not trivial_digits(digits)
        ):
            if not negative_context(text, m.start()):
                return m.start(), m.start() + end, "CREDIT_CARD"
            return None
    return None


def _group_ends(value: str) -> list[int]:
    """Candidate ends, longest first: the whole match, then each point where a separator starts a group."""
    ends = [len(value)]
    ends += [i for i in range(len(value) - 1, 0, -1) if value[i] in " -" and value[i - 1].isdigit()]
    return ends


def find_ssns(text: str, windows: list[Window] | None = None) -> Iterator[Hit]:
    yield from _hits(ssn_hit, text, _in(_SSN, text, _everywhere(text) if windows is None else windows))


def ssn_hit(text: str, m: re.Match[str]) -> Hit | None:
    start = m.start()
    # Spaced or compact, nine digits are an SSN only after a context word; tested first, as most have none.
    if m.group(2) != "-" and not _SSN_CONTEXT.search(text, max(0, start - 40), start):
        return None
    if not ssn_ok(text[start] + m.group(1), m.group(3), m.group(4)) or negative_context(text, start):
        return None
    return start, m.end(), "US_SSN"


def find_cn_ids(text: str, windows: list[Window] | None = None) -> Iterator[Hit]:
    yield from _hits(cn_id_hit, text, _in(_CN_ID, text, _everywhere(text) if windows is None else windows))


def cn_id_hit(text: str, m: re.Match[str]) -> Hit | None:
    return (m.start(), m.end(), "CN_ID") if cn_id_ok(m.group()) else None


def find_ibans(text: str, windows: list[Window] | None = None) -> Iterator[Hit]:
    yield from _hits(iban_hit, text, _in(_IBAN, text, _everywhere(text) if windows is None else windows))


def iban_hit(text: str, m: re.Match[str]) -> Hit | None:
    value = m.group()
    want = IBAN_LENGTHS.get(value[:2].upper())
    if want is None:
        return None
    end, seen = 0, 0
    for i, ch in enumerate(value):  # cut at the country's length: the match may have run into the next word
        if ch not in " -":
            seen += 1
            if seen == want:
                end = i + 1
                break
    iban = value[:end]
    if not end or not (iban.isupper() or iban.islower()):
        return None
    # The forms upper case never took (`de89…`, `DE89-3704-…`) must end where a group does, not inside a word
    # or a UUID; upper case keeps its cut, since scraped text glues `…3000BIC`.
    if end < len(value) and value[end] not in " -" and (iban.islower() or "-" in iban):
        return None
    if iban_ok(iban.replace(" ", "").replace("-", "").upper()):
        return m.start(), m.start() + end, "IBAN"
    return None


def find_ips(text: str) -> Iterator[Hit]:
    if "." in text:
        yield from _hits(ipv4_hit, text, _in(_IPV4, text, _hint_windows(_IPV4_HINT, text, 4, 5)))
    if "::" in text or _IPV6_HINT.search(text):
        yield from _hits(ipv6_hit, text, _in(_IPV6, text, _hint_windows(_IPV6_HINT, text, 40, 40)))


def ipv4_hit(text: str, m: re.Match[str]) -> Hit | None:
    start = m.start()
    if not public_ip(m.group()) or counting_digits(digits_of(m.group())):  # `1.2.3.4`: the placeholder docs write
        return None
    if versions.is_version(text, start, m.end()):  # `version 5.4.2.1`, `Python 2.7.2.2`, `opencv-python==4.8.0.76`
        return None
    return start, m.end(), "IPV4"


def ipv6_hit(text: str, m: re.Match[str]) -> Hit | None:
    value = m.group()
    groups = [g for g in value.split(":") if g]
    if len(groups) < 3 or not any(ch.isdigit() for ch in value) or value.count(":") < 2:
        return None
    return (m.start(), m.end(), "IPV6") if public_ip(value) else None
