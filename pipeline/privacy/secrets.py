"""Credentials in text and source code: provider token formats, JWTs, private-key blocks, `password=` values.

Provider formats are matched only when their literal prefix is in the text (a substring test costs far less than
a regex pass). Assignments count only when the value looks random (Shannon entropy), so `password = getpass()`
and `token: <SECRET>` stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lmforge.pipeline.privacy.placeholders import PLACEHOLDERS
from lmforge.pipeline.privacy.validators import shannon_entropy

Hit = tuple[int, int, str]

_TOKEN_CHARS = "0-9A-Za-z_"
_NOT_BEFORE = r"(?<![0-9A-Za-z_\-/+])"

#: (literal that must occur in the text, pattern); prefixes are those the providers publish for their token formats.
_PROVIDER_RULES: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    ((literal,) if isinstance(literal, str) else literal, re.compile(pattern))
    for literal, pattern in (
        # AWS access key ids: AKIA long-term, ASIA temporary (AWS IAM docs, "unique ID prefixes").
        (("AKIA", "ASIA"), r"(?:AKIA|ASIA)(?<![0-9A-Z]....)[0-9A-Z]{16}(?![0-9A-Za-z])"),
        ("gh", r"gh[pousr]_(?<![0-9A-Za-z_]....)[0-9A-Za-z]{36,251}(?![0-9A-Za-z_])"),
        ("github_pat_", r"github_pat_[0-9A-Za-z_]{22,244}(?![0-9A-Za-z_])"),
        ("glpat-", r"glpat-[0-9A-Za-z_\-]{20,50}(?![0-9A-Za-z_\-])"),
        ("xox", r"xox[abposre]-(?<![0-9A-Za-z_]xox.-)[0-9A-Za-z\-]{10,250}(?![0-9A-Za-z\-])"),
        ("hooks.slack.com", r"hooks\.slack\.com/services/[0-9A-Za-z_/]{20,120}"),
        ("AIza", r"AIza(?<![0-9A-Za-z_\-]....)[0-9A-Za-z_\-]{35}(?![0-9A-Za-z_\-])"),
        ("_live_", r"[sr]k_live_(?<![0-9A-Za-z_]......)[0-9A-Za-z]{20,99}(?![0-9A-Za-z])"),
        ("_test_", r"[sr]k_test_(?<![0-9A-Za-z_]......)[0-9A-Za-z]{20,99}(?![0-9A-Za-z])"),
        ("sk-", r"sk-(?<![0-9A-Za-z_\-]...)(?:proj-|ant-)?[0-9A-Za-z_\-]{32,200}(?![0-9A-Za-z_\-])"),
        ("eyJ", r"eyJ(?<![0-9A-Za-z_\-]...)[0-9A-Za-z_\-]{5,4000}\.eyJ[0-9A-Za-z_\-]{5,8000}\.[0-9A-Za-z_\-]{10,2000}"),
        (
            "PRIVATE KEY-----",
            r"-----BEGIN [A-Z0-9 ]{0,24}PRIVATE KEY-----(?:[0-9A-Za-z+/=:,.\s]|-(?!----)){0,20000}+"
            r"(?:-----END [A-Z0-9 ]{0,24}PRIVATE KEY-----)?",
        ),
    )
)

#: Words that name a credential; looked up with `str.find` on the lower-cased text (cheap), then the assignment
#: after them is matched with an anchored pattern.
_KEYWORDS: tuple[str, ...] = (
    "pass", "pwd", "secret", "token", "key", "auth", "credential", "kennwort", "密码", "口令", "密钥", "令牌",
)  # fmt: skip
_ASSIGN_TAIL = re.compile(
    r"[\w\-]{0,24}[\"'\]]?\s{0,3}(?:=>|:=|=|:|：|\s(?:is|ist|lautet)\s|\s?(?:为|是)\s?)\s{0,3}[\"'`]?"
    r"([^\s\"'`,;<>(){}\[\]\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]{1,200})"
)
_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FORMAT_FIELD = re.compile(r"%[-+ #0-9.]*[sdifrxXg]|\{[\w.]*\}")
_URL_PASSWORD = re.compile(r"://[^\s:/@]{1,64}:([^\s:/@]{3,128})@")
_NOT_A_VALUE = re.compile(
    r"^(?i:none|null|nil|true|false|undefined|changeme|xxx+)$|^(?:\*+|%\w+%|\.+)$"
    r"|^\$\{?(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*)\}?$"  # $VAR / ${var}: a reference, not the secret
)


def find_secrets(text: str, min_entropy: float = 3.0, min_length: int = 8) -> Iterator[Hit]:
    for literals, pattern in _PROVIDER_RULES:
        if any(literal in text for literal in literals):
            for m in pattern.finditer(text):
                yield m.start(), m.end(), "SECRET"
    if "://" in text and "@" in text:
        for m in _URL_PASSWORD.finditer(text):
            if not _is_placeholder(m.group(1)):
                yield m.start(1), m.end(1), "SECRET"
    yield from _assignments(text, min_entropy, min_length)


def _assignments(text: str, min_entropy: float, min_length: int) -> Iterator[Hit]:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two; fall back to exact-case search
        lowered = text
    examined: set[int] = set()
    for word in _KEYWORDS:
        pos = lowered.find(word)
        while pos != -1:
            m = _ASSIGN_TAIL.match(text, pos + len(word))
            if m is None:
                pos = lowered.find(word, pos + 1)
                continue
            if m.start(1) not in examined:  # several keywords ("api_key_secret") lead to the same value
                examined.add(m.start(1))
                value = m.group(1).rstrip(".")
                after = text[m.start(1) + len(value) : m.start(1) + len(value) + 1]
                if after not in ("(", "[") and looks_random(value, min_entropy, min_length):
                    yield m.start(1), m.start(1) + len(value), "SECRET"
            pos = lowered.find(word, m.end())  # keywords inside the value are part of it, not new assignments


def looks_random(value: str, min_entropy: float = 3.0, min_length: int = 8) -> bool:
    """A credential, not a word or a reference: long, mixed character classes, high entropy, no call/attribute."""
    if len(value) < min_length or _NOT_A_VALUE.match(value) or _is_placeholder(value):
        return False
    if value.endswith(")") or "(" in value or value.startswith(("os.", "self.", "env.", "process.", "http")):
        return False
    if value[-1] in "+-*/|&%=:" or _FORMAT_FIELD.search(value):  # `name+'…'`, `"VS%0.fTOOLS" % v`: expressions
        return False
    if _DOTTED_NAME.match(value):  # `Statistic._sort_key`, `Kind.POSITIONAL_OR_KEYWORD`: code, not a credential
        return False
    lower, upper = any(c.islower() for c in value), any(c.isupper() for c in value)
    entropy = shannon_entropy(value)
    if any(c.isdigit() for c in value):  # passwords and keys nearly always carry a digit; identifiers rarely do
        return (lower or upper or any(not c.isalnum() for c in value)) and entropy >= min_entropy
    if any(not c.isalnum() and c not in "_-./" for c in value):  # `Kx#pLw!rTz`: punctuation marks a password
        return (lower or upper) and entropy >= min_entropy
    # letters only: `mail_options`, `getElementById` are names; `ceGOKrVfxqroGm` is random (case flips mid-word)
    return lower and upper and len(value) >= 12 and entropy >= min_entropy and not _camel_case(value)


def _camel_case(value: str) -> bool:
    """Most capitals start a lower-case run, as in identifiers; in random strings about half do."""
    capitals = [i for i, c in enumerate(value) if c.isupper()]
    starts = sum(1 for i in capitals if i + 1 < len(value) and value[i + 1].islower())
    return starts >= 0.75 * len(capitals)


def _is_placeholder(value: str) -> bool:
    return any(p in value for p in PLACEHOLDERS)
