"""Dotted numbers that are versions, section numbers or object identifiers, not IPv4 addresses.

`7.1.4.34`, `2.7.2.2` and `2.5.29.14` have an address's shape; what is written around them tells them apart: a
version word or a product's name before (`version 5.4.2.1`, `Python 2.7.2.2`, `ObjectIdentifier("2.5.29.14")`), a
distribution's name and a PEP 440 operator, a list of other versions, a build's suffix or `or later` after. An
address in a log line or in a list of addresses stays an address.
"""

from __future__ import annotations

import re

#: What stands right before a version (in the 24 characters before it): a version word, a section's, an OID's.
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:(?<![a-z])(?:versions?|ver|releases?|builds?|v|rev|firmware|sections?|sec|chapter|abschnitt|kapitel|§"
    r"|版本|章节|oid|rfc ?\d{3,5}|(?:up|down)grad(?:e|ed|es|ing)(?: to)?"
    # a product's name before its version: `Python 2.7.2.2`, `AIX 7.1.4.34`
    r"|python|pypy|aix|windows|ubuntu|debian|rhel|centos|macos|ios|android|java|jdk|linux|firefox|chrome|gcc|clang"
    r"|llvm|cuda|openssl|perl|ruby|php)|(?-i:Version|ObjectIdentifier))"  # `AssemblyVersion(`, not `conversion`
    # also `"version": "`, `<version>`, `__version__ = '`, a CSV's `ROCM_VERSION,6.0.0.0`, `ObjectIdentifier("2.5.4.3")`
    r"[\"'>_\-]{0,2},?\s{0,2}[:=]?[\s\"'`(]{0,3}$"
)
#: The separator between the items of a list in prose: `, `, `, and `, ` or `, ` to `, ` / ` (a comma without a space
#: after it separates a CSV row's fields, such as an address and a latency).
_LIST_SEPARATOR = (
    r"(?:,\s{1,2}(?:(?:and|or)\s{1,2})?|\s{0,2}[/|]\s{0,2}|\s{1,2}(?:and|or|to|through|bis|und|oder)\s{1,2})"
)
#: A dotted number (`v2.7`, `3.1.1.6`) and a separator before a dotted quad, or a separator and one after it; each
#: may be quoted (`"3.1.1.6", "3.2.2.10"`, and reStructuredText's links, `` `3.1.3.6`_ ``).
_VERSION_BEFORE = re.compile(
    r"(?<![\w.])(v?)(\d{1,5}(?:\.\d{1,5}){1,3})[a-z]{0,3}(?:[\"'`]_?)?" + _LIST_SEPARATOR + "[\"'`]?$", re.ASCII
)
_VERSION_AFTER = re.compile(
    r"(?:[\"'`]_?)?" + _LIST_SEPARATOR + r"[\"'`]?(v?)(\d{1,5}(?:\.\d{1,5}){1,3})(?![\w.]|\.\w)", re.ASCII
)
#: `7.1.4.34 or later`, `5.10.102.1-microsoft-standard`, `3.0.5.130-5a1e7`: what follows a version (a word, or a
#: build's hash, after a dash; an address range, `81.2.3.4-81.2.3.10`, has no letter there).
_LATER = re.compile(
    r"\s{1,2}(?:or|and)\s{1,2}(?:later|newer|above|higher|earlier|older|below)(?![\w])|-[0-9]{0,8}[A-Za-z]", re.ASCII
)
#: `brotlicffi >= 1.2.1.0`, `~= 2.7.2.2`: an ordering comparison compares versions (addresses are compared with
#: `==`, as in `ip.addr==8.8.8.8`, which stays found).
_VERSION_COMPARISON = re.compile(r"(?:>=|<=|~=|===)\s{0,2}$")
#: `opencv-python==4.8.0.76`, `pywin32>=1.2.3.4`: a dotted quad glued to a distribution name by a PEP 440 operator
#: is a version. `ip.addr==` and `$ip==` are not distribution names, so the addresses they compare stay found. A name
#: glued by a dash (`opencv-python-4.8.0.76` in pip's output) is not enough: `web-93.184.216.34` is a host.
_PACKAGE_VERSION = re.compile(r"(?<![\w.\-$])[A-Za-z][\w\-]{0,63}(?:\[[\w,\-]{0,40}\])?[=!<>~]=$", re.ASCII)


def is_version(text: str, start: int, end: int) -> bool:
    """`text[start:end]`, a dotted quad, is a version (or a section, an OID) by what stands around it."""
    if _VERSION_CONTEXT.search(text, max(0, start - 24), start):
        return True
    if start and text[start - 1] == "=" and _PACKAGE_VERSION.search(text, max(0, start - 72), start):
        return True
    if _VERSION_COMPARISON.search(text, max(0, start - 6), start) or _LATER.match(text, end):
        return True
    return _among_versions(text, start, end) or _version_named_after(text, end)


def _among_versions(text: str, start: int, end: int) -> bool:
    """`text[start:end]` is one of a list of dotted numbers (`2.7.2.1, 2.7.2.2 and 3.1.1.6`) that a version word
    heads (`versions 2.7.2.1, …`, `Python 2.6, …`) or that holds a version no address looks like (`3.1.1`,
    `v3.1.1.6`; not `0.25`, which may be a decimal). A list of addresses alone (`8.8.8.8, 8.8.4.4`) stays one."""
    head = start
    for _ in range(8):  # back to the list's head
        item = _VERSION_BEFORE.search(text, max(0, head - 32), head)
        if item is None:
            break
        if item.group(1) or item.group(2).count(".") == 2:
            return True
        head = item.start()
    if head < start and _VERSION_CONTEXT.search(text, max(0, head - 24), head):
        return True
    for _ in range(8):  # and on to its end
        item = _VERSION_AFTER.match(text, end)
        if item is None:
            return _among_version_lines(text, start, end)
        if item.group(1) or item.group(2).count(".") == 2:
            return True
        end = item.end()
    return False


#: One item alone on its line (indented, or after a bullet): `    1.3.a4`, `- 3.2.pl0`, `  81.2.3.4`.
_LINE_ITEM = re.compile(
    r"[ \t]{0,12}(?:[-*][ \t])?(v?[0-9]{1,5}(?:\.[0-9A-Za-z]{1,8}){0,3}|[0-9]{1,5}[a-z][0-9a-z]{0,6})[ \t]*", re.ASCII
)


def _among_version_lines(text: str, start: int, end: int) -> bool:
    """The dotted quad is alone on its line, in a list of one item per line whose line before or after holds a
    version no address looks like (`1.3.a4`, `3.2.pl0`, `0.9.6`, `v2.1.0.0`), as distutils' docs list them."""
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", end)
    last = len(text) if last < 0 else last
    if not _LINE_ITEM.fullmatch(text, first, last):
        return False
    neighbours = []
    if first:
        neighbours.append(_LINE_ITEM.fullmatch(text, text.rfind("\n", 0, first - 1) + 1, first - 1))
    if last < len(text):
        after = text.find("\n", last + 1)
        neighbours.append(_LINE_ITEM.fullmatch(text, last + 1, len(text) if after < 0 else after))
    return any(item is not None and _version_only(item.group(1)) for item in neighbours)


def _version_only(item: str) -> bool:
    return item[0] == "v" or not item.replace(".", "").isdigit() or item.count(".") in (1, 2)


#: `['7.1.4.34', 1806]\nThe fileset bos.rte represents the current AIX run-time level. It's VRMF …`: words after a
#: dotted quad, in its sentence, that name a version's format or level.
_VERSION_WORD = re.compile(r"(?i)(?<![a-z])(?:vrmf|fileset|version (?:number|string)|(?:technology|run-?time) level)")
_SENTENCE_END = re.compile(r"\.\s|\n\s*\n")


def _version_named_after(text: str, end: int) -> bool:
    window = text[end : end + 120]
    stop = _SENTENCE_END.search(window)
    return _VERSION_WORD.search(window, 0, stop.start() if stop else len(window)) is not None
