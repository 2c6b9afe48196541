"""`scan(text)`: run every detector, resolve overlaps by type priority, return sorted non-overlapping spans.

With the C pre-scan built, the patterns run only where it found candidates (`triggers.py`); `scan_reference` runs
them over the whole text, gives the same spans, and is the fallback.

Offsets are Python string indices (code points, end-exclusive) into the text as given.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lmforge.pipeline.curate.clean import UNICODE_SPACES
from lmforge.pipeline.privacy import detectors, disguised, triggers
from lmforge.pipeline.privacy.config import PrivacyConfig
from lmforge.pipeline.privacy.ner import NerDetector
from lmforge.pipeline.privacy.secrets import find_secrets

#: When two detections overlap, the earlier type here wins (stronger validation first; a key inside a URL is a
#: SECRET, an 18-digit ID that also passes Luhn is a CN_ID, a digit run inside an IBAN is not a PHONE).
PRIORITY: tuple[str, ...] = (
    "SECRET",
    "EMAIL",
    "IBAN",
    "CN_ID",
    "CREDIT_CARD",
    "US_SSN",
    "IPV6",
    "IPV4",
    "PHONE",
    "PERSON",
    "ADDRESS",
)
_RANK = {t: i for i, t in enumerate(PRIORITY)}

_DEFAULT = PrivacyConfig()


@dataclass(frozen=True, slots=True)
class Span:
    """One detection: `text[start:end]` is personal data of `type` (a key of PLACEHOLDER_FOR_TYPE)."""

    start: int
    end: int
    type: str


Hit = tuple[int, int, str]


def scan(text: str, config: PrivacyConfig | None = None, *, uncleaned: bool = False) -> list[Span]:
    """All PII spans in `text`, sorted by start and non-overlapping (`find_spans`, as Span objects)."""
    return [Span(start, end, kind) for start, end, kind in find_spans(text, config, uncleaned=uncleaned)]


def find_spans(text: str, config: PrivacyConfig | None = None, *, uncleaned: bool = False) -> list[Hit]:
    """All PII spans in `text` as (start, end, type), sorted by start and non-overlapping: what `Redactor` uses.

    The detectors expect cleaned text, where every Unicode space is ' ' (curation cleans before it redacts). With
    `uncleaned` (`lmforge pii` on text as given) they see those spaces as ' ', so `+44\u00a020 7946 0958` is a phone
    there too; the offsets are the same, as each space stays one character.
    """
    if isinstance(text, str) and not text.isascii():
        if uncleaned:
            text = UNICODE_SPACES.sub(" ", text)  # the spaces cleaning turns into ' ', one character for one
        text = _ascii_dashes(text)
        if _has_invisible(text):
            return _around_invisibles(text, lambda t: _find_spans(t, config))
    return _find_spans(text, config)


def _find_spans(text: str, config: PrivacyConfig | None) -> list[Hit]:
    if triggers._prescan is None or not isinstance(text, str) or not text:
        return _spans(text, config, _reference_all)
    # `_spans` inlined: curation calls this three times per document, mostly on texts without any candidate
    config = config or _DEFAULT
    hits = triggers.find_all(text, config)
    if config.ner:
        hits.extend(_ner(config.ner_model, config.ner_min_score).find(text))
    return _resolve(hits) if hits else []


def scan_reference(text: str, config: PrivacyConfig | None = None) -> list[Span]:
    """`scan` with every pattern run over the whole text or its windows: the fallback, and what tests compare with."""
    return [Span(start, end, kind) for start, end, kind in _reference_spans(text, config)]


def _reference_spans(text: str, config: PrivacyConfig | None) -> list[Hit]:
    if isinstance(text, str) and not text.isascii():
        text = _ascii_dashes(text)
        if _has_invisible(text):
            return _around_invisibles(text, lambda t: _spans(t, config, _reference_all))
    return _spans(text, config, _reference_all)


#: Hyphens and dashes that web text writes inside numbers: U+2011 (non-breaking hyphen, which keeps a phone number
#: on one line), U+2012 (figure dash, made for phone numbers), U+2010, U+2013 (en dash) and U+2212 (minus). The
#: detectors see them as '-', one character for one, so the offsets stay those of the text.
_DASHES = "\u2010\u2011\u2012\u2013\u2212"
#: Characters that render as nothing: soft hyphen (`&shy;`), zero-width space, non-joiner and joiner, word joiner,
#: zero-width no-break space. Web pages put them inside addresses and numbers (hyphenation, anti-scraping), and
#: later steps (a tokenizer's normalizer) may drop them, which would rebuild the raw value downstream. Also the
#: bidirectional marks, embeddings and isolates (U+200E/F, U+061C, U+202A-E, U+2066-9) that right-to-left pages
#: wrap around and inside Latin addresses and numbers, the invisible operators (U+2061-4) and the Mongolian vowel
#: separator (U+180E, a space once, now of no width).
_INVISIBLES = (
    "\u00ad\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068"
    "\u2069\u2061\u2062\u2063\u2064\u180e"
)
_INVISIBLE = re.compile(f"[{_INVISIBLES}]")


def _ascii_dashes(text: str) -> str:
    """`text` with its Unicode dashes as '-' (the same length); `text` itself when it has none (most texts)."""
    for dash in _DASHES:  # str search and replace, per character, beat a regex pass several times
        if dash in text:
            text = text.replace(dash, "-")
    return text


def _has_invisible(text: str) -> bool:
    # a substring test per character is ~4x faster than `_INVISIBLE.search` on long texts (one in six is scanned)
    return not text.isascii() and any(ch in text for ch in _INVISIBLES)


def _around_invisibles(text: str, find: Callable[[str], list[Hit]]) -> list[Hit]:
    """The spans in `text` and in `text` without its invisible characters (mapped back: a span keeps the invisible
    characters inside it, not those around it), resolved together. Both: removing one can also glue a value to a
    word before it, as in `abc\u200b+44 20 7946 0958`."""
    removed = [m.start() for m in _INVISIBLE.finditer(text)]
    # where each removed character sat in the stripped text; a stripped index s lies at s + (removed at or before s)
    shifted = [p - k for k, p in enumerate(removed)]
    hits = find(text)
    for start, end, kind in find(_INVISIBLE.sub("", text)):
        hits.append((start + bisect.bisect_right(shifted, start), end + bisect.bisect_right(shifted, end - 1), kind))
    return _resolve(hits) if hits else []


def _spans(
    text: str, config: PrivacyConfig | None, find: Callable[[str, PrivacyConfig], list[tuple[int, int, str]]]
) -> list[Hit]:
    if not isinstance(text, str):
        raise TypeError(f"privacy scan needs str text, got {type(text).__name__}")
    if not text:
        return []
    config = config or _DEFAULT
    hits = find(text, config)
    if config.ner:
        hits.extend(_ner(config.ner_model, config.ner_min_score).find(text))
    return _resolve(hits) if hits else []


def _reference_all(text: str, config: PrivacyConfig) -> list[tuple[int, int, str]]:
    """`reference_hits` and the escaped, spelled and disguised forms (searched in the text as given, not its ASCII
    twin)."""
    hits = reference_hits(text, config)
    hits.extend(detectors.find_escaped_values(text))
    hits.extend(detectors.find_spelled_emails(text))
    hits.extend(disguised.find_disguised_emails(text))
    return hits


def reference_hits(text: str, config: PrivacyConfig) -> list[tuple[int, int, str]]:
    """Every detector's hits (unresolved), each pattern searched over its whole window."""
    if not text.isascii() and detectors.FULLWIDTH.search(text):
        text = text.translate(detectors.ASCII_TWINS)
    hits: list[tuple[int, int, str]] = list(find_secrets(text, config.secret_min_entropy, config.secret_min_length))
    hits.extend(detectors.find_emails(text))
    hits.extend(disguised.find_spaced_emails(text))
    hits.extend(disguised.find_hash_emails(text))
    numbers, ibans = detectors.number_windows(text)
    if numbers:
        hits.extend(detectors.find_cn_ids(text, numbers))
        hits.extend(detectors.find_cards(text, numbers))
        hits.extend(detectors.find_ssns(text, numbers))
        hits.extend(detectors.find_ibans(text, ibans))
    hits.extend(detectors.find_ips(text))
    hits.extend(detectors.find_phones(text, numbers))
    return hits


def resolve(hits: Iterable[tuple[int, int, str]]) -> list[Span]:
    """Keep the highest-priority (then longest, then earliest) hit of every overlapping group."""
    return [Span(start, end, kind) for start, end, kind in _resolve(hits)]


def _resolve(hits: Iterable[tuple[int, int, str]]) -> list[Hit]:
    """`resolve` on tuples (a frozen dataclass costs ~1 µs to build; a document with PII has dozens of spans)."""
    if not hits:
        return []
    by_start = sorted(set(hits))
    if all(a[1] <= b[0] for a, b in zip(by_start, by_start[1:], strict=False)):  # the usual case: nothing overlaps
        return [hit for hit in by_start if hit[1] > hit[0]]
    ordered = sorted(by_start, key=lambda h: (_RANK.get(h[2], len(_RANK)), h[0] - h[1], h[0]))
    starts: list[int] = []
    kept: list[Hit] = []
    for start, end, kind in ordered:
        if end <= start:
            continue
        i = bisect.bisect_right(starts, start)
        if i and kept[i - 1][1] > start:
            continue
        if i < len(kept) and kept[i][0] < end:
            continue
        starts.insert(i, start)
        kept.insert(i, (start, end, kind))
    return kept


@functools.lru_cache(maxsize=4)
def _ner(model: str, min_score: float) -> NerDetector:
    return NerDetector(model=model, min_score=min_score)
