"""Addresses written so that `_EMAIL` does not see them as one: split by HTML tags (`jane<b>@</b>example.com`, an
anti-scraping habit of web pages) or by a wrapped line (`jane@\nexample.com`, `jane@exam-\nple.com`), punctuated
with CJK and full-width marks (`jane@example。com`, as CJK input methods type the dot, and `jane﹫example.com`), or
with spaces beside the '@' (`jane @ example.com`).

Both scan paths run `find_disguised_emails` on the text as given; the C pre-scan says when it may find something
(`disguised`: an '@' with a tag or a line break beside its run of address characters, or one of `_CJK_MARKS` in the
text). Each search runs on a twin of the text where the disguise is undone, and keeps only the hits that the disguise
hid (those that contain a tag, a break or a mark); the rest are `_EMAIL`'s own.

Spaced addresses, and addresses with '#' for '@' (`zhang.wei#example.cn`), are patterns of their own,
`_SPACED_EMAIL` and `_HASH_EMAIL`, with candidate lists in the pre-scan like `_EMAIL`'s (`triggers._PATTERNS`); the
reference runs `find_spaced_emails` and `find_hash_emails` beside `detectors.find_emails`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from lmforge.pipeline.privacy import detectors

Hit = tuple[int, int, str]

#: An '@' whose run of address characters touches a tag: `>` before the local part or `<` after the domain (the
#: pre-scan tests the same, from each '@').
_TAG_BESIDE_AT = re.compile(r">[\w.+\-%]{0,64}@|@[\w.\-]{0,255}<")
#: An inline HTML tag (`<b>`, `</span>`, `<span class="x">`, `<wbr/>`) or a comment: what pages put inside an
#: address to hide it. Block and line-break tags (`<br>`, `<td>`, `<p>`) end a word, so they stay.
_TAG = re.compile(
    r"<(?:/?(?i:a|abbr|b|bdi|bdo|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|small|span|strong|sub|sup"
    r"|time|tt|u|var|wbr)(?![\w\-])(?:\s[^<>]{0,256})?/?|!--[^<>]{0,256}?--)>"
)

#: The ideographic full stop (U+3002), the full-width and half-width ones (U+FF0E, U+FF61), and the small commercial
#: at (U+FE6B). In an address they stand for '.' and '@'.
_CJK_MARKS = "\u3002\uff0e\uff61\ufe6b"
_HAS_MARK = re.compile(f"[{_CJK_MARKS}]")
#: A full stop is a dot of an address only between a name character and a letter or digit (ASCII or full-width):
#: `example。com`. At the end of a sentence (`… jane@example.com。谢谢`) it stays a full stop.
_MARK_DOT = re.compile(r"(?<=[\w\-])[\u3002\uff0e\uff61](?=[0-9A-Za-z\uff10-\uff19\uff21-\uff3a\uff41-\uff5a])")
#: The full-width letters, digits and '@' as ASCII (`detectors.ASCII_TWINS` without its unconditional '．'), and
#: the small '@'.
_TWINS = {k: v for k, v in detectors.ASCII_TWINS.items() if k != 0xFF0E} | {0xFE6B: "@"}


#: An address with one or two spaces (or tabs) beside its '@': `alice @ example.com`, `alice@ example.com`, `alice
#: @example.com`, as forum posts and pages that hope to escape scrapers write them, and with its dots spaced or
#: spelled too (`jane . doe @ example . com`, `jane @ example dot com`). The local part is the whole run of address
#: characters before the spaces, as in `_EMAIL` (the pre-scan lists its start, and the start of each spaced part
#: before it); the domain is that of `detectors._SPELLED_DOMAIN` and ends in a mail domain's ending (so that
#: `example . com . Then` ends at `com`). The matrix product has this shape (`A @ B.T`, `x @ w.weight`, `u @
#: np.diag(s)`), so `spaced_email_hit` wants more than the shape.
_SPACED_DOT = r"[ \t]{1,2}(?:\.|dot|DOT)[ \t]{1,2}"
_MAIL_ENDINGS = "|".join(sorted(detectors._MAIL_TLDS | detectors._UNDERSCORE_TLDS, key=lambda t: (-len(t), t)))
_SPACED_EMAIL = re.compile(
    rf"(?P<local>[\w+\-%](?<![\w.+\-%][\w+\-%])[\w.+\-%]{{0,63}}(?:{_SPACED_DOT}[\w+\-%][\w.+\-%]{{0,63}}){{0,3}})"
    r"(?:[ \t]{1,2}@[ \t]{0,2}|@[ \t]{1,2})"
    rf"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,61}}[A-Za-z0-9])?(?:\.|{_SPACED_DOT})){{1,6}}"
    rf"(?P<tld>{_MAIL_ENDINGS}))"
    r"(?a:(?![\w\-@/(\[]|\.\w))"
)
_SPACED_HINTS = ("@ ", " @", "@\t", "\t@")
_SPACED_DOTS = re.compile(_SPACED_DOT)


def find_spaced_emails(text: str) -> Iterator[Hit]:
    """`_SPACED_EMAIL`'s addresses in `text` (the reference scan's search; the pre-scan's candidates give the same)."""
    if any(hint in text for hint in _SPACED_HINTS):
        for m in _SPACED_EMAIL.finditer(text):
            if (hit := spaced_email_hit(text, m)) is not None:
                yield hit


def spaced_email_hit(text: str, m: re.Match[str]) -> Hit | None:
    """A spaced address when the domain ends in a known mail TLD in lower case, as `_at_` wants in code (`A @ B.T`, `x
    @ w.weight`, `q.T @ self.yy`, `M @ M.mT` end in attributes), and the local part names a mailbox: not a letter
    alone (`a @ b.io`, a product of two variables), a number, file or version (`2 @ 4.99`), a prose word or a word
    after an article (`works with @live.com`, `the team @ example.com`), nor a project's object at the project's
    site. Spaced dots count in the local part only when the domain has one too (`Thanks . bob @ example.com` is
    prose before an address); CJK prose glued before a local part is cut off, as in `email_hit`."""
    local = m.group("local")
    domain = _SPACED_DOTS.sub(".", m.group("domain"))
    cut = 0 if len(domain) < len(m.group("domain")) else max(local.rfind(" "), local.rfind("\t")) + 1
    if not local.isascii():
        cut = max(cut, max((c.end() for c in detectors._CJK.finditer(local)), default=0))
    start, name = m.start() + cut, _SPACED_DOTS.sub(".", local[cut:])
    if len(name) < 2 or name[-1] in ".-+%" or detectors._NOT_A_MAILBOX.fullmatch(name):
        return None
    if name.lower() in detectors._PROSE_BEFORE_AT or detectors._ARTICLE_BEFORE.search(text, max(0, start - 5), start):
        return None
    if "." in name and name.partition(".")[0].lower() == domain.partition(".")[0].lower():
        return None
    return start, m.end(), "EMAIL"


#: `zhang.wei#example.cn`: Chinese pages write '#' (or the full-width '＃', or a star, '★' '☆') for the '@' so that
#: scrapers miss the address, often with a note (`(请把#换成@)`). '#' is everywhere in code and URLs
#: (`page.html#section.top`, `obj#method.name`, `issue#123`), so `hash_email_hit` wants a mail domain's ending and a
#: mail word or such a note nearby.
_HASH_EMAIL = re.compile(
    r"(?P<local>[\w+\-%](?<![\w.+\-%/?=&#][\w+\-%])[\w.+\-%]{0,63})[#\uff03\u2605\u2606]"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,6}(?P<tld>[A-Za-z]{2,24}))"
    r"(?a:(?![\w\-@#/(\[]|\.\w))"
)
#: A mail word before the address (`邮箱：`, `E-mail: `, `联系 `), on its line.
_MAIL_WORD_BEFORE = re.compile(
    r"(?:(?i:e-?mail|mail|contact|kontakt)|电子邮件|电子邮箱|邮箱|邮件|电邮|信箱|联系|聯繫|郵箱|郵件|メール)[^\n#@＃★☆]{0,24}$"
)
#: The note that says what the '#' stands for: `#换成@`, `# 替换为 @`, `(# -> @)`, `replace # with @`.
_HASH_NOTE = re.compile(r"[#＃★☆]\s{0,2}(?:换成|改成|改为|替换成|替换为|換成|->|→|=>|=|to|with)\s{0,2}[@＠]")


def find_hash_emails(text: str) -> Iterator[Hit]:
    """`_HASH_EMAIL`'s addresses in `text` (the reference scan's search; the pre-scan lists the candidates)."""
    if "#" in text or (not text.isascii() and ("\uff03" in text or "\u2605" in text or "\u2606" in text)):
        for m in _HASH_EMAIL.finditer(text):
            if (hit := hash_email_hit(text, m)) is not None:
                yield hit


def hash_email_hit(text: str, m: re.Match[str]) -> Hit | None:
    """An address with '#' for '@' when its domain ends in a mail domain's ending in lower case, its local part
    names a mailbox (no file, version or number; the pattern leaves out the last part of a URL's path or query,
    `docs/os.html#os.path`), and a mail word stands before it on its line or a note near it says that '#' stands
    for '@'."""
    start, local = m.start(), m.group("local")
    cut = 0 if local.isascii() else max((c.end() for c in detectors._CJK.finditer(local)), default=0)
    name = local[cut:]
    if m.group("tld") not in detectors._UNDERSCORE_TLDS or len(name) < 2 or name[-1] in ".-+%":
        return None
    if detectors._NOT_A_MAILBOX.fullmatch(name):
        return None
    if not (
        _MAIL_WORD_BEFORE.search(text, max(0, start + cut - 48), start + cut)
        or _HASH_NOTE.search(text, max(0, start - 80), min(len(text), m.end() + 80))
    ):
        return None
    return start + cut, m.end(), "EMAIL"


#: A line break that wrapping put inside an address (with the spaces around it, and a quoted mail's `>`s): right
#: after the '@' (`jane@\nexample.com`), after a '-' in the domain (`jane@exam-\nple.com`, as hyphenated text wraps),
#: or after a '-' in a local part that goes on to an '@' (`jane.smith-\njones@example.com`). A break before the '@'
#: stays: `import pytest\n@pytest.fixture` is code. The pre-scan says `disguised` when an '@' has a line break after
#: it, after its domain's run ending in '-', or before its local part's run after a '-'.
_WRAP = re.compile(r"(?:(?<=[\w.+\-%]@)|(?<=\w-))[ \t]{0,8}\r?\n[ \t>]{0,8}(?=[\w\-])")
#: What must stand around a break after a '-': the domain's run back to its '@', or the local part's on to its '@'.
_DOMAIN_BEFORE = re.compile(r"@[\w.\-]{1,255}$")
_LOCAL_AFTER = re.compile(r"[\w.+\-%]{1,64}@")


def find_disguised_emails(text: str) -> Iterator[Hit]:
    """Addresses split by tags or line breaks or punctuated with CJK marks (see the module docstring), as (start, end,
    "EMAIL")."""
    if "@" in text and "<" in text and _TAG_BESIDE_AT.search(text):
        yield from _across_tags(text)
    if "@" in text and "\n" in text:
        yield from _across_breaks(text)
    if not text.isascii() and ("@" in text or "\uff20" in text or "\ufe6b" in text) and _HAS_MARK.search(text):
        twin = _MARK_DOT.sub(".", text).translate(_TWINS)
        for start, end, kind in detectors.find_emails(twin):
            if _HAS_MARK.search(text, start, end):
                yield start, end, kind


def _across_tags(text: str) -> Iterator[Hit]:
    """The addresses in `text` without its tags, mapped back: a hit keeps the tags inside it, not those around it."""
    parts: list[str] = []
    cuts: list[int] = []  # where each tag sat in the stripped text
    removed: list[int] = []  # characters removed up to and including that tag
    pos = total = 0
    for m in _TAG.finditer(text):
        parts.append(text[pos : m.start()])
        total += m.end() - m.start()
        cuts.append(m.start() - (total - (m.end() - m.start())))
        removed.append(total)
        pos = m.end()
    if not cuts:
        return
    parts.append(text[pos:])
    stripped = "".join(parts)

    def original(index: int, *, end: bool) -> int:
        # a start after a cut point moves past the tags there; an end moves past those strictly inside the hit
        k = bisect.bisect_left(cuts, index) if end else bisect.bisect_right(cuts, index)
        return index + (removed[k - 1] if k else 0)

    for start, end, kind in detectors.find_emails(stripped):
        at = stripped.find("@", start, end)
        # After the '@' a tag joins the address's parts only beside a '.' or the '@'; elsewhere it ends the address:
        # `jane@example.org</a>more` is `jane@example.org` (the plain scan's), not `jane@example.orgmore`, and
        # `jane@exam<b></b>ple.com` is cut to `jane@exam` (the name and the '@' go, which the plain scan misses).
        cut = False
        for k in range(bisect.bisect_right(cuts, max(at, start)), bisect.bisect_left(cuts, end)):
            if stripped[cuts[k] - 1] not in "@." and stripped[cuts[k]] not in "@.":
                end, cut = cuts[k], True
                break
        first, last = original(start, end=False), original(end, end=True)
        if cut or last - first != end - start:  # cut, or a tag inside: the plain scan could not see it
            yield first, last, kind


def _around_ats(text: str) -> list[tuple[int, int]]:
    """Disjoint windows of `text` around its '@'s that hold every break `_across_breaks` keeps: a local part's run
    (with its break) ends within ~90 characters before its '@', a domain's within ~280 after it. Searching only
    there keeps a long page of code with a decorator from being scanned whole."""
    windows: list[tuple[int, int]] = []
    at = text.find("@")
    while at != -1:
        lo, hi = max(0, at - 96), min(len(text), at + 288)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi)
        else:
            windows.append((lo, hi))
        at = text.find("@", at + 1)
    return windows


def _across_breaks(text: str) -> Iterator[Hit]:
    """The addresses in `text` without the line breaks `_WRAP` finds, mapped back: only those a break was inside."""
    breaks = [
        m.span()
        for lo, hi in _around_ats(text)
        for m in _WRAP.finditer(text, lo, hi)
        if text[m.start() - 1] == "@"
        or _DOMAIN_BEFORE.search(text, max(0, m.start() - 256), m.start())
        or _LOCAL_AFTER.match(text, m.end())
    ]
    if not breaks:
        return
    parts: list[str] = []
    cuts: list[int] = []  # where each break sat in the joined text
    removed: list[int] = []  # characters removed up to and including that break
    pos = total = 0
    for start, end in breaks:
        parts.append(text[pos:start])
        cuts.append(start - total)
        total += end - start
        removed.append(total)
        pos = end
    parts.append(text[pos:])
    joined = "".join(parts)
    for start, end, kind in detectors.find_emails(joined):
        first = bisect.bisect_right(cuts, start)  # the breaks strictly inside the hit
        last = bisect.bisect_left(cuts, end)
        if first < last:
            yield start + (removed[first - 1] if first else 0), end + removed[last - 1], kind
