"""Candidate-driven detection: the C pre-scan (`_prescan.c`) lists where each pattern could start, and the patterns
and validators of `detectors.py`/`secrets.py` run only there instead of over the whole text.

The hits are those of `scanner.scan_reference` on every input. The reference runs `pattern.finditer(text, ws, we)`
over its windows (the whole text for some patterns); finditer tries each position from `ws` on and, after a match,
goes on from its end. The pre-scan returns every position where the pattern can match inside a window (a superset,
with the window's `we`), so calling `pattern.match(text, start, we)` at each one that does not lie inside the
previous match yields the same matches. Lookbehinds see the whole text in both calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lmforge.pipeline.privacy import detectors, disguised, secrets
from lmforge.pipeline.privacy.config import PrivacyConfig

try:  # the C twin, built at install time; without it scanner.scan runs scan_reference (same results, ~20x slower)
    from lmforge.pipeline.privacy import _prescan
except ImportError:  # pragma: no cover - a machine without a C compiler
    _prescan = None

Hit = tuple[int, int, str]

#: The pre-scan's candidate lists, by the index `_prescan.scan` gives them (the provider rules in order, then the
#: phones that need a cue word, the passwords after a command line's user name, the addresses with a spaced '@', the
#: addresses with a '#' for it).
_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[str, re.Match[str]], Hit | None]], ...] = (
    (detectors._EMAIL, detectors.email_hit),
    (detectors._EMAIL_OBFUSCATED, detectors.obfuscated_email_hit),
    (detectors._PHONE_INTL, detectors.intl_phone_hit),
    (detectors._PHONE_US, detectors.us_phone_hit),
    (detectors._PHONE_NATIONAL, detectors.national_phone_hit),
    (detectors._PHONE_CN_MOBILE, detectors.cn_mobile_hit),
    (detectors._CARD, detectors.card_hit),
    (detectors._SSN, detectors.ssn_hit),
    (detectors._CN_ID, detectors.cn_id_hit),
    (detectors._IBAN, detectors.iban_hit),
    (detectors._IPV4, detectors.ipv4_hit),
    (detectors._IPV6, detectors.ipv6_hit),
    (secrets._URL_PASSWORD, secrets.url_password_hit),
    (detectors._EMAIL_QUOTED, detectors.quoted_email_hit),
    *((pattern, secrets.provider_hit) for _, pattern in secrets._PROVIDER_RULES),
    (detectors._PHONE_CUED, detectors.cued_phone_hit),
    (secrets._CLI_USER, secrets.cli_password_hit),
    (disguised._SPACED_EMAIL, disguised.spaced_email_hit),
    (disguised._HASH_EMAIL, disguised.hash_email_hit),
)
_MATCHERS = tuple((pattern.match, check) for pattern, check in _PATTERNS)


def find_all(text: str, config: PrivacyConfig) -> list[Hit]:
    """Every detector's hits (unresolved), as `scanner.reference_hits` and `detectors.find_escaped_values` find
    them; needs the C module. A text without any candidate (most documents, nearly every id and URL) costs one call."""
    scanned = _prescan.scan(text)
    if scanned is None:
        return []
    found, keywords, need_lower, fullwidth, escaped, spelled, hidden = scanned
    # the escaped forms are searched in the text as given (the pre-scan saw "%40", "%2E", "&#", "&commat;" or "\@")
    hits: list[Hit] = list(detectors.find_escaped_values(text)) if escaped else []
    if spelled:  # `jane.doe at example.org`, also in the text as given (the pre-scan saw " at " before a dotted name)
        hits.extend(detectors.find_spelled_emails(text))
    if hidden:  # `jane<b>@</b>example.com`, `jane@example。com` (a tag beside an address, or a CJK full stop)
        hits.extend(disguised.find_disguised_emails(text))
    if fullwidth:  # the ASCII twin has no full-width digit or '@' left, so its own scan says no more of them
        text = text.translate(detectors.ASCII_TWINS)
        if (scanned := _prescan.scan(text)) is None:
            return hits
        found, keywords, need_lower = scanned[:3]
    if found:
        for index, candidates in found:
            (match, check), after, pairs = _MATCHERS[index], 0, iter(candidates)
            for start, end in zip(pairs, pairs, strict=True):
                if start >= after and (m := match(text, start, end)) is not None:
                    after = m.end()
                    if (hit := check(text, m)) is not None:
                        hits.append(hit)
    if need_lower:  # a character whose lower case is not its ASCII fold: search str.lower() as the reference does
        lowered = text.lower()
        keywords = _prescan.keywords(lowered if len(lowered) == len(text) else text, text)
    if keywords:
        hits.extend(secrets.assignments_at(text, keywords, config.secret_min_entropy, config.secret_min_length))
    return hits
