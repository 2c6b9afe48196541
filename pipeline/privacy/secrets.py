"""Credentials in text and source code: provider token formats, JWTs, private-key blocks, `password=` values.

Provider formats are matched only when their literal prefix is in the text (a substring test costs far less than
a regex pass). Assignments count only when the value looks random (Shannon entropy), so `password = getpass()`
and `token: <SECRET>` stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lmforge.pipeline.privacy.placeholders import PLACEHOLDERS
from lmforge.pipeline.privacy.validators import name_words, shannon_entropy

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
        ("_live_", r"[sr]k_live_(?<![0-9A-Za-z_]........)[0-9A-Za-z]{20,99}(?![0-9A-Za-z])"),
        ("_test_", r"[sr]k_test_(?<![0-9A-Za-z_]........)[0-9A-Za-z]{20,99}(?![0-9A-Za-z])"),
        ("sk-", r"sk-(?<![0-9A-Za-z_\-]...)(?:proj-|ant-)?[0-9A-Za-z_\-]{32,200}(?![0-9A-Za-z_\-])"),
        # JWTs (RFC 7519); an unsecured one (`"alg": "none"`) ends with the dot before its empty signature.
        (
            "eyJ",
            r"eyJ(?<![0-9A-Za-z_\-]...)[0-9A-Za-z_\-]{5,4000}\.eyJ[0-9A-Za-z_\-]{5,8000}\."
            r"(?:[0-9A-Za-z_\-]{10,2000}|(?![0-9A-Za-z_\-]))",
        ),
        # PEM blocks and OpenPGP armor ("PRIVATE KEY BLOCK"); `\\` for the `\n` escapes of a key inside JSON.
        (
            ("PRIVATE KEY-----", "PRIVATE KEY BLOCK-----"),
            r"-----BEGIN [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)?-----(?:[0-9A-Za-z+/=:,.\s\\]|-(?!----)){0,20000}+"
            r"(?:-----END [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)?-----)?",
        ),
        # HuggingFace user access tokens (`hf_` + 34 letters; older ones hold digits too) and npm access tokens.
        ("hf_", r"hf_(?<![0-9A-Za-z_]...)[0-9A-Za-z]{34}(?![0-9A-Za-z_])"),
        ("npm_", r"npm_(?<![0-9A-Za-z_]....)[0-9A-Za-z]{36}(?![0-9A-Za-z_])"),
        # PyPI API tokens: a macaroon whose base64 starts with its location, pypi.org or test.pypi.org (PyPI docs).
        (
            "pypi-AgE",
            r"pypi-(?<![0-9A-Za-z_\-].....)AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[0-9A-Za-z_\-]{16,2000}"
            r"(?![0-9A-Za-z_\-])",
        ),
        # SendGrid API keys: `SG.` + 22-character key id + '.' + 43-character secret.
        ("SG.", r"SG\.(?<![0-9A-Za-z_\-]...)[0-9A-Za-z_\-]{22}\.[0-9A-Za-z_\-]{43}(?![0-9A-Za-z_\-])"),
        # Telegram bot tokens: the bot's id, ':' and 35 characters starting with 'A' (34 in Telegram's own docs
        # example); in a URL after `/bot` (`api.telegram.org/bot<token>/getMe`), so a letter may stand before it.
        (":A", r"[0-9](?<![0-9][0-9])[0-9]{7,9}:A[0-9A-Za-z_\-]{33,34}(?![0-9A-Za-z_\-])"),
        # Discord webhooks: the URL's id and token are what lets anyone post to the channel.
        (
            "/api/webhooks/",
            r"[0-9](?:(?<=discord\.com/api/webhooks/[0-9])|(?<=discordapp\.com/api/webhooks/[0-9]))[0-9]{16,19}/"
            r"[0-9A-Za-z_\-]{60,100}(?![0-9A-Za-z_\-])",
        ),
        # Google OAuth client secrets (since 2021), Groq, Replicate and Perplexity API keys, Stripe webhook signing
        # secrets: a fixed prefix and a random body (the lengths gitleaks' rules use).
        ("GOCSPX-", r"GOCSPX-(?<![0-9A-Za-z_\-]GOCSPX-)[0-9A-Za-z_\-]{28}(?![0-9A-Za-z_\-])"),
        ("gsk_", r"gsk_(?<![0-9A-Za-z_\-]gsk_)[0-9A-Za-z]{52}(?![0-9A-Za-z_\-])"),
        ("r8_", r"r8_(?<![0-9A-Za-z_\-]r8_)[0-9A-Za-z]{37}(?![0-9A-Za-z_\-])"),
        ("pplx-", r"pplx-(?<![0-9A-Za-z_\-]pplx-)[0-9A-Za-z]{48}(?![0-9A-Za-z_\-])"),
        ("whsec_", r"whsec_(?<![0-9A-Za-z_\-]whsec_)[0-9A-Za-z+/=]{32,88}(?![0-9A-Za-z_\-+/=])"),
        # Shopify access tokens and shared secrets (`shpat_`, `shpca_`, `shppa_`, `shpss_`), DigitalOcean personal,
        # OAuth and refresh tokens (`dop_v1_`, `doo_v1_`, `dor_v1_`), and Mailchimp API keys (32 hex digits and
        # the data centre, `-us12`): a hex body (the lengths gitleaks' rules use) that `_random_hex` must accept.
        ("shp", r"shp(?:at|ca|pa|ss)_(?<![0-9A-Za-z_\-]shp.._)[0-9a-fA-F]{32}(?![0-9A-Za-z_\-])"),
        ("_v1_", r"do[opr]_v1_(?<![0-9A-Za-z_\-]do._v1_)[0-9a-f]{64}(?![0-9A-Za-z_\-])"),
        ("-us", r"[0-9a-f](?<![0-9A-Za-z_\-][0-9a-f])[0-9a-f]{31}-us[0-9]{1,2}(?![0-9A-Za-z_\-])"),
        # The signature of an Azure shared access signature (SAS) URL (`…&sp=r&se=…&sig=<base64, URL-encoded>`): it
        # grants the access by itself. `provider_hit` wants it random.
        ("sig=", r"[0-9A-Za-z%+/](?<=[?&]sig=[0-9A-Za-z%+/])[0-9A-Za-z%+/=]{19,199}(?![0-9A-Za-z%+/=])"),
    )
)

#: Words that name a credential; looked up with `str.find` on the lower-cased text (cheap), then the assignment
#: after them is matched with an anchored pattern.
_KEYWORDS: tuple[str, ...] = (
    "pass", "pwd", "secret", "token", "key", "auth", "credential", "kennwort", "密码", "口令", "密钥", "令牌",
)  # fmt: skip
_VALUE = r"([^\s\"'`,;<>(){}\[\]\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]{1,200})"
#: A value given after the name it is the value of: `<add key="ApiKey" value="…"/>` in a .NET config, `{"name":
#: "API_TOKEN", "value": "…"}`, a Kubernetes env entry (`name: DB_PASSWORD` and `value: …` on the next line).
_VALUE_AFTER_NAME = r",?\s{0,24}[\"']?(?i:value)[\"']?\s{0,3}[:=]\s{0,3}[\"'`]?"
_ASSIGN_TAIL = re.compile(
    r"[\w\-]{0,24}[\"'\]]?\s{0,3}(?:(?:=>|:=|=|:|：|\s(?:is|ist|lautet)\s|\s?(?:为|是)\s?)\s{0,3}[\"'`]?"
    + f"|{_VALUE_AFTER_NAME})"
    # `Authorization: Bearer <token>`, `auth = "Basic <base64 of user:password>"`, GitHub's `Authorization: token <…>`
    + r"(?:(?i:bearer|basic)\s{1,3}|(?i:token)[ \t]{1,3})?"
    + _VALUE
)
#: The value attribute after a quoted name (`key="ApiKey" value="…"`), where the name holds a key word.
_NAMED_VALUE = re.compile(r"[\"']\s{0,3}" + _VALUE_AFTER_NAME + _VALUE)

#: Where no operator follows the keyword: a long command-line flag (`--password X`; short ones like `-p` are as
#: often a port or a path) and an XML element (`<password>X</password>`). The lookbehinds name the whole flag or
#: tag, so the keyword inside them is where the match starts, as for `_ASSIGN_TAIL`.
_FLAG_OR_ELEMENT_TAIL = re.compile(
    r"(?:(?:(?<=--pass)(?:word|wd)|(?<=--token)|(?<=--secret)|(?<=--api-key)|(?<=--api_key))(?:=|\s{1,3})[\"']?"
    r"|(?:(?<=<pass)word|(?<=<secret)|(?i:(?<=<apikey)|(?<=<api_key)|(?<=<api-key)))>(?=[^<\s]{1,200}</))" + _VALUE
)
#: Standard base64 with its `=` padding: the whole value a multiple of four characters (RFC 4648, section 4).
_BASE64_PADDED = re.compile(r"^(?=(?:.{4})+$)[0-9A-Za-z+/]+={1,2}$")
#: `Statistic._sort_key`, and `~matplotlib.widgets.LockDraw` (a Sphinx cross-reference).
_DOTTED_NAME = re.compile(r"^~?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FORMAT_FIELD = re.compile(r"%[-+ #0-9.]*[sdifrxXg]|\{[\w.]*\}")
_URL_PASSWORD = re.compile(r"://[^\s:/@]{0,64}:([^\s:/@]{3,128})@")  # `redis://:pw@host`: no user
#: A password slot that names what goes there (`user:password@`, `<password>`, `[password]]`, `mypass`, `my-token`,
#: `APIPASS`, `seed`, `****`, `AccountSid:AuthToken@`, `mySendingPassword`, `aws_secret_access_key`, or `user` where
#: the template swapped the slots): how documentation writes a URL's form, not a credential. A camel-case word is a
#: slot only when it is such a name (`ApiKey`): `SuperSecret` may be a real, weak password.
_NAMED_PASSWORD = re.compile(
    r"[<\[{(]*(?:\**|(?i:(?:my|your|api)?[-_]?(?:pass(?:word|wd|phrase)?|pwd|secret|token|seed)|user(?:name)?|login)"
    r"|(?:Auth|Api|API|Access|Account|App|Client|JWT|Master)(?:Token|Secret|Key|Pass(?:word)?|Sid|SID|ID)"
    r"|(?:my|your)(?:[A-Z][a-z]{1,15}){1,3}(?:Pass(?:word|wd|phrase)?|Secret|Token|Key)"
    r"|[a-z]+(?:_[a-z]+)*_(?:password|secret|token|key))[>\]})]*"
)
#: A template's slot where the password goes: `{password}`, `{corpsecret}`, `{{secret}}`, `${DB_PASSWORD}`,
#: `$DB_PASSWORD`, `%(password)s`, `<pw>`. Apprise's plugins list their URL forms so (`{schema}://{user}:{apikey}@
#: {host}`), whatever the slot's name; a password is no identifier in braces.
_TEMPLATE_SLOT = re.compile(
    r"\$?\{\{?[A-Za-z_][\w.\-]{0,63}\}\}?|\$[A-Z_][A-Z0-9_]{0,63}|%\([A-Za-z_]\w{0,63}\)s|<[A-Za-z_][\w\-]{0,63}>"
)
#: Oracle's sample schema account (`scott:tiger@`), in every SQLAlchemy and Oracle example.
_SAMPLE_ACCOUNTS = frozenset([("scott", "tiger")])
#: `key="user:123"`, `key="task-123"`, `key=Counter-1234abcd` (a name and a hash, as dask and distributed key their
#: tasks): a bare `key` names a lookup key (cache, dict, task); an API key is named so.
_LOOKUP_KEY = re.compile(r"[A-Za-z]+[:\-_](?:\d{1,6}|[0-9a-f]{8,32})")
_BARE_KEY = re.compile(r"(?<![\w\-])key(?![\w\-])", re.IGNORECASE)
#: `&state=`: the next parameter of a query string (`?access_token=abc&state=xyz&token_type=example`).
_QUERY_PARAMETER = re.compile(r"&[A-Za-z_][\w.\-]*=")
_NOT_A_VALUE = re.compile(
    r"^(?i:none|null|nil|true|false|undefined|changeme|xxx+)$|^(?:\*+|%\w+%|\.+)$"
    r"|^\$\{?(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*)\}?$"  # $VAR / ${var}: a reference, not the secret
)


def find_secrets(text: str, min_entropy: float = 3.0, min_length: int = 8) -> Iterator[Hit]:
    for literals, pattern in _PROVIDER_RULES:
        if any(literal in text for literal in literals):
            for m in pattern.finditer(text):
                if (hit := provider_hit(text, m)) is not None:
                    yield hit
    if "://" in text and "@" in text:
        for m in _URL_PASSWORD.finditer(text):
            hit = url_password_hit(text, m)
            if hit is not None:
                yield hit
    if "-u" in text:
        for m in _CLI_USER.finditer(text):
            if (hit := cli_password_hit(text, m)) is not None:
                yield hit
    yield from _assignments(text, min_entropy, min_length)


#: `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`: camel-case words (and a number) after `hf_`/`npm_` name something in
#: code. A random token almost never splits into such words: some capital is followed by another, or by one
#: lower-case letter alone.
_IDENTIFIER = re.compile(r"(?:[A-Z]?[a-z]{2,}|[A-Z]{2,}(?![a-z]))+[0-9]*")


_PERCENT_ESCAPE = re.compile("%[0-9A-Fa-f]{2}")
#: Prefixes of the rules whose body `_random_body` tests.
_RANDOM_AFTER_PREFIX = ("GOCSPX-", "gsk_", "r8_", "pplx-", "whsec_")


def provider_hit(text: str, m: re.Match[str]) -> Hit | None:
    if text.startswith("sig=", m.start() - 4):
        return (m.start(), m.end(), "SECRET") if _random_signature(m.group()) else None
    if text.startswith(("hf_", "npm_"), m.start()) and _IDENTIFIER.fullmatch(
        text, text.index("_", m.start()) + 1, m.end()
    ):
        return None
    body = _random_body(m.group())
    if body is not None and not (any(map(str.isdigit, body)) and _has_lower(body) and _has_upper(body)):
        return None
    if (hex_body := _hex_body(m.group())) is not None and not _random_hex(hex_body):
        return None
    return m.start(), m.end(), "SECRET"


def _random_signature(value: str) -> bool:
    """A SAS signature is the base64 of a MAC, its '+', '/' and '=' URL-encoded: digits, both cases, a dozen
    different characters (`<signature>` and fillers are none of that)."""
    body = _PERCENT_ESCAPE.sub("", value)
    return any(map(str.isdigit, body)) and _has_lower(body) and _has_upper(body) and len(set(body)) >= 12


def _hex_body(value: str) -> str | None:
    """The hex digits of a Shopify, DigitalOcean or Mailchimp token; None for the other rules."""
    if value.startswith("shp"):
        return value[6:]
    if value.startswith("do") and value[3:7] == "_v1_":
        return value[7:]
    if value[32:35] == "-us":
        return value[:32]
    return None


def _random_hex(body: str) -> bool:
    """Hex digits as a generator gives them: both digits and letters, and neither a short pattern repeated
    (`deadbeef` four times, `0123…ef0123…ef`) nor a count (`0123456789abcdef…`), as examples and fillers are."""
    if not (any(map(str.isdigit, body)) and any(map(str.isalpha, body))) or len(set(body)) < 8:
        return False
    if any(body == body[:k] * (len(body) // k) for k in range(1, len(body) // 2 + 1) if len(body) % k == 0):
        return False
    steps = [(int(b, 16) - int(a, 16)) % 16 for a, b in zip(body, body[1:], strict=False)]
    return steps.count(1) < len(steps) // 2


def _random_body(value: str) -> str | None:
    """The random part of a token whose rule has only a short prefix or none (Telegram's `<bot id>:<secret>`,
    Discord's `<id>/<token>`, `gsk_<key>` …): it holds digits and both cases, which names and fillers (`gsk_` and
    camel-case words, `whsec_xxxx…`) do not. None for the other rules."""
    if value[0].isdigit() and (":" in value or "/" in value) and "%" not in value:  # not a Mailchimp key or a SAS
        return value.rpartition(":" if ":" in value else "/")[2]
    for prefix in _RANDOM_AFTER_PREFIX:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return None


def url_password_hit(text: str, m: re.Match[str]) -> Hit | None:
    password = m.group(1)
    if _is_placeholder(password) or _NAMED_PASSWORD.fullmatch(password) or _TEMPLATE_SLOT.fullmatch(password):
        return None
    user = text[m.start() + 3 : m.start(1) - 1]
    if (user.lower(), password.lower()) in _SAMPLE_ACCOUNTS:
        return None
    return m.start(1), m.end(1), "SECRET"


#: `curl -u jane:Xk9pLw2rTz7 https://…`, `curl --user=jane:…`: a password after a command-line user name. The same
#: flag takes a user and group (`docker run -u 1000:1000`, `--user www-data:www-data`) or a host and path (`rsync
#: -u host:/srv`): `cli_password_hit` tells those apart. `$` starts no user name (`-u "$USER:$PASS"`, `$(id -u)`).
_CLI_USER = re.compile(r"-(?<=\s-)(?:u ?|-user[= ])[\"']?([^\s:\"'/@$]{1,64}):([^\s\"']{3,128})")


#: A container runtime's command line: its `-u`/`--user` takes `user:group` (`docker run -u app:staff`).
_CONTAINER_COMMAND = re.compile(r"(?<![\w\-])(?:docker|podman|nerdctl)(?![\w\-])")


def cli_password_hit(text: str, m: re.Match[str]) -> Hit | None:
    """The password of a `_CLI_USER` match, unless it is a slot's name, a group (digits, the user's own name, or any
    name on a container runtime's command line) or a path."""
    user, password = m.group(1), m.group(2)
    if password.isdigit() or password == user or password[0] in "/$":
        return None
    line = text.rfind("\n", 0, m.start()) + 1
    if _CONTAINER_COMMAND.search(text, max(line, m.start() - 200), m.start()):
        return None
    if _is_placeholder(password) or _NAMED_PASSWORD.fullmatch(password) or _TEMPLATE_SLOT.fullmatch(password):
        return None
    if (user.lower(), password.lower()) in _SAMPLE_ACCOUNTS:
        return None
    return m.start(2), m.end(2), "SECRET"


_KEY_WORD = re.compile("(?i)" + "|".join(_KEYWORDS))


def assignment_tail(text: str, start: int, end: int) -> re.Match[str] | None:
    """The assignment after the keyword at `start:end`, if any: `= value`, ` is value`, `--flag value`, `<tag>value`."""
    if (
        text[end : end + 2].lower() == "or"
        and text[end + 2 : end + 3].lower() != "i"
        and text[start:end].lower() == "auth"
    ):
        return None  # `Author-email:`, `AUTHORS:` name people; `authorization` and `auth_or` go on
    m = _ASSIGN_TAIL.match(text, end)
    # a flag or tag has '-' or '<' before its keyword, or (`--api_key`, `<apiKey>`) '_' or 'i'
    if m is None and start and text[start - 1] in "-<_iI":
        m = _FLAG_OR_ELEMENT_TAIL.match(text, end)
    if m is not None and _colon_of_a_name(text, start, end, m):
        return None
    # `key="ApiKey" value="…"`: the key word's value names the credential that the value attribute holds
    if m is not None and text.startswith(("'", '"'), m.end(1)):
        named = _NAMED_VALUE.match(text, m.end(1))
        if named is not None and _KEY_WORD.search(m.group(1)):
            return named
    return m


#: `urn:ietf:params:oauth:token-type:jwt`: the ':'s of a URN (RFC 8141) separate names, not a key from its value.
_URN_BEFORE = re.compile(r"(?i)(?<![\w.\-])urn:[\w.\-:]{0,80}$")
#: `sessions://public_key:seed@host`: a key word right after `://` is the URL's user name (or host), the part after
#: its ':' the password (or port), which `_URL_PASSWORD` judges.
_AUTHORITY_BEFORE = re.compile(r"://[^\s:/@]{0,64}$")


def _colon_of_a_name(text: str, start: int, end: int, m: re.Match[str]) -> bool:
    """The ':' after the keyword at `start:end` is part of a name, not an assignment: a URL's scheme (`misskey://`),
    a URL's `user:password` or `host:port`, or a URN's separator."""
    value = m.start(1)
    if text.startswith("//", value) and text[value - 1] == ":":
        return True
    if "=" not in text[end:value] and _AUTHORITY_BEFORE.search(text, max(0, start - 72), start):
        return True
    return _URN_BEFORE.search(text, max(0, start - 88), start) is not None


def _assignments(text: str, min_entropy: float, min_length: int) -> Iterator[Hit]:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower-case to two; fall back to exact-case search
        lowered = text
    examined: set[int] = set()
    for word in _KEYWORDS:
        pos = lowered.find(word)
        while pos != -1:
            m = assignment_tail(text, pos, pos + len(word))
            if m is None:
                pos = lowered.find(word, pos + 1)
                continue
            if m.start(1) not in examined:  # several keywords ("api_key_secret") lead to the same value
                examined.add(m.start(1))
                hit = assignment_hit(text, m, min_entropy, min_length)
                if hit is not None:
                    yield hit
            pos = lowered.find(word, m.end())  # keywords inside the value are part of it, not new assignments


def assignments_at(text: str, found: list[tuple[int, list[int]]], min_entropy: float, min_length: int) -> list[Hit]:
    """`_assignments` given (keyword index, every position where it occurs and `_ASSIGN_TAIL` could match after it).

    The loop is the same walk: an occurrence inside the previous value of the same keyword is skipped, as
    `lowered.find(word, m.end())` skips it; occurrences where the tail cannot match change nothing.
    """
    hits: list[Hit] = []
    examined: set[int] = set()
    for index, positions in found:
        size, after = len(_KEYWORDS[index]), 0
        for pos in positions:
            if pos < after or (m := assignment_tail(text, pos, pos + size)) is None:
                continue
            after = m.end()
            if m.start(1) not in examined:
                examined.add(m.start(1))
                if (hit := assignment_hit(text, m, min_entropy, min_length)) is not None:
                    hits.append(hit)
    return hits


def assignment_hit(text: str, m: re.Match[str], min_entropy: float, min_length: int) -> Hit | None:
    """The value of a `keyword = value` match, when it looks like a credential."""
    value = m.group(1).rstrip(".")
    if len(value) < min_length:  # the first thing looks_random rejects
        return None
    after = text[m.start(1) + len(value) : m.start(1) + len(value) + 1]
    if after in ("(", "["):
        return None
    chosen = _CHOSEN_BY_PEOPLE.search(text, max(0, m.start(1) - 32), m.start(1)) is not None
    if not looks_random(value, min_entropy, min_length) and not (
        chosen and _PEOPLES_PASSWORD.fullmatch(value) and shannon_entropy(value) >= min_entropy
    ):
        return None
    # `token="token123"`, `dep_token=dep_token0`: one word and a number names something in code after a key word;
    # after a password word it may be what a person chose (`summer-2024`)
    if not chosen and not value.isupper() and name_words(value):
        return None
    if _LOOKUP_KEY.fullmatch(value) and _BARE_KEY.match(text, m.start() - 3):
        return None
    # `ApiKey:ApiSecret@host` in a URL: the part before the '@' is the password slot
    if "@" in value and _NAMED_PASSWORD.fullmatch(value.partition("@")[0]):
        return None
    # `token=abc&state=xyz`: the parameters of a query string, each judged alone (one random one keeps the whole)
    parts = _QUERY_PARAMETER.split(value) if "&" in value else ()
    if len(parts) > 1 and not any(looks_random(part, min_entropy, min_length) for part in parts):
        return None
    return m.start(1), m.start(1) + len(value), "SECRET"


#: The key words whose values people choose (a password), unlike the generated ones of tokens and keys.
_CHOSEN_BY_PEOPLE = re.compile("(?i)pass|pwd|kennwort|密码|口令")
#: What a person types as a password after such a word, however much it reads like a name in code: words and a
#: number or a mark in one piece (`MyPassword2024`, `Sommer2024!`; a hyphen alone is prose: `Admin-provided`). A name
#: in code after a password word is joined by `_`, `.` or `/` (`s3_password_path`, `settings.DB_PASSWORD`), which
#: `looks_random` still tells apart.
_PEOPLES_PASSWORD = re.compile(r"(?=.*[0-9!#%&*+?@])(?=.*[A-Za-z])[A-Za-z0-9!#%&*+?@-]+")


def looks_random(value: str, min_entropy: float = 3.0, min_length: int = 8) -> bool:
    """A credential, not a word or a reference: long, mixed character classes, high entropy, no call/attribute, no
    name in code or path of two words or more (`validators.name_words`)."""
    if len(value) < min_length or _NOT_A_VALUE.match(value) or _is_placeholder(value):
        return False
    if value.endswith(")") or "(" in value or value.startswith(("os.", "self.", "env.", "process.", "http")):
        return False
    if value[:4].lower() == "urn:":  # `token_type: urn:ietf:params:oauth:token-type:jwt` names a kind of token
        return False
    if "..." in value or "\u2026" in value:  # `sk-...xyz1234`: a key shown with its middle left out
        return False
    if value[-1] in "+-*/|&%:" or _FORMAT_FIELD.search(value):  # `name+'…'`, `"VS%0.fTOOLS" % v`: expressions
        return False
    if value[-1] == "=" and not _BASE64_PADDED.match(value):  # `x=`, `a+=`; but `cGFzc3dvcmQ=` is base64 padding
        return False
    if _DOTTED_NAME.match(value) and not any(map(_random_part, value.split("."))):
        return False  # `Statistic._sort_key`, `Kind.POSITIONAL_OR_KEYWORD`: code; not `ya29.a0AfH6SMBx…` (OAuth)
    # The tests below are pure, so each runs only when the answer still depends on it (entropy, then the names of
    # code, last: they are dearest).
    if any(map(str.isdigit, value)):  # passwords and keys nearly always carry a digit; identifiers rarely do
        cased = _has_lower(value) or _has_upper(value) or not value.isalnum()
        return cased and shannon_entropy(value) >= min_entropy and not _code_name(value)
    if _has_punctuation(value):  # `Kx#pLw!rTz`: punctuation marks a password
        return (
            (_has_lower(value) or _has_upper(value)) and shannon_entropy(value) >= min_entropy and not _code_name(value)
        )
    # letters only: `mail_options`, `getElementById` are names; `ceGOKrVfxqroGm` is random (case flips mid-word)
    return (
        _has_lower(value)
        and _has_upper(value)
        and len(value) >= 12
        and shannon_entropy(value) >= min_entropy
        and not _camel_case(value)
        and not _code_name(value)
    )


def _code_name(value: str) -> bool:
    """`PKCS12PrivateKeyTypes`, `s3_full_path`, `/oidc/v1/token`, `SSHPublicKeyTypes`: a name in code or a path of
    two words or more, whatever its digits and entropy."""
    return name_words(value) >= 2


def _random_part(part: str) -> bool:
    """A part of a dotted value that no identifier looks like: long, digits and both cases, not camel case."""
    return (
        len(part) >= 16
        and any(map(str.isdigit, part))
        and _has_lower(part)
        and _has_upper(part)
        and not _camel_case(part)
    )


def _has_lower(value: str) -> bool:
    return any(map(str.islower, value))


def _has_upper(value: str) -> bool:
    return any(map(str.isupper, value))


_NAME_PUNCTUATION = str.maketrans("", "", "_-./")


def _has_punctuation(value: str) -> bool:
    """Some character is neither alphanumeric nor one of `_-./` (which names and paths use)."""
    rest = value.translate(_NAME_PUNCTUATION)
    return bool(rest) and not rest.isalnum()


def _camel_case(value: str) -> bool:
    """Most capitals start a lower-case run, as in identifiers; in random strings about half do."""
    capitals = [i for i, c in enumerate(value) if c.isupper()]
    starts = sum(1 for i in capitals if i + 1 < len(value) and value[i + 1].islower())
    return starts >= 0.75 * len(capitals)


def _is_placeholder(value: str) -> bool:
    return "<" in value and any(p in value for p in PLACEHOLDERS)  # every placeholder starts with "<"
