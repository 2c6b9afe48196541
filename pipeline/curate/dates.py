"""`created_at` values as curation reads them: every common way a corpus writes a date, as an aware UTC datetime."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any


def parse_created_at(value: Any) -> datetime | None:
    """ISO-8601 strings, epoch seconds, milliseconds, microseconds or nanoseconds (numbers or strings of digits),
    RFC 2822 dates (HTTP and e-mail headers), datetimes or dates → aware UTC datetime (naive ones are taken as UTC);
    anything else → None.

    Numbers (and strings of digits) are read by their size:

    - eight digits that are a calendar date as YYYYMMDD (`20240101`, also `20240101.0`) are that date, as the ISO
      basic string `"20240101"` is; fourteen digits that are YYYYMMDDhhmmss (`20240101123000`: CDX indexes of web
      crawls, Wayback) are that time. As epoch seconds every eight-digit number falls between April 1970 and March
      1973, before any corpus, and as milliseconds every fourteen-digit one after the year 2286;
    - any other number is epoch seconds below `_EPOCH_UNITS`' first bound, then milliseconds (JavaScript, most
      crawlers), microseconds (Spark, BigQuery exports) or nanoseconds (pandas, Arrow), either side of 1970: each
      unit takes over where the one before would pass the year 5000."""
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, date):
            dt = datetime(value.year, value.month, value.day)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            dt = _from_number(value)
        elif isinstance(value, str):
            dt = _parse_date_string(value)
        else:
            return None
        # In UTC inside the try: `0001-01-01T00:00:00+01:00` (.NET's DateTimeOffset.MinValue) is before year 1 there.
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return None


_EPOCH_UNITS = ((1e11, 1), (1e14, 1e3), (1e17, 1e6))
"""(bound, seconds per unit): numbers below 1e11 are seconds (1e11 seconds is the year 5138), below 1e14
milliseconds, below 1e17 microseconds, and larger ones nanoseconds."""


def _from_number(value: float) -> datetime:
    return _from_digits(value) or _from_epoch(value)


def _from_digits(value: float) -> datetime | None:
    """The date (YYYYMMDD) or time (YYYYMMDDhhmmss) an integer of eight or fourteen digits spells, or None (another
    number, or no such day or time: `20240231`)."""
    if 1e7 <= value < 1e8 and value == int(value):
        n = int(value)
        return _datetime(n // 10_000, n // 100 % 100, n % 100)
    if 1e13 <= value < 1e14 and value == int(value):
        n, t = divmod(int(value), 1_000_000)
        return _datetime(n // 10_000, n // 100 % 100, n % 100, t // 10_000, t // 100 % 100, t % 100)
    return None


def _datetime(*fields: int) -> datetime | None:
    try:
        return datetime(*fields)
    except ValueError:
        return None


def _from_epoch(value: float) -> datetime:
    size = abs(value)
    unit = next((per for bound, per in _EPOCH_UNITS if size < bound), 1e9)
    return datetime.fromtimestamp(value / unit if unit != 1 else float(value), tz=UTC)


def _parse_date_string(value: str) -> datetime:
    """`parse_created_at` for a string; raises ValueError (or TypeError, OverflowError) when it is no date."""
    text = _UTC_SUFFIX.sub("+00:00", value.strip())
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if _EPOCH_STRING.fullmatch(text):  # a Parquet string column or a JSON string holding a number (epoch, CDX time)
        return _from_number(int(text) if text.lstrip("+-").isdigit() else float(text))
    if leap := _LEAP_SECOND.fullmatch(text):
        # datetime has no second 60: a leap second is the instant after :59, where POSIX time puts it as well.
        return datetime.fromisoformat(f"{leap[1]}:59{leap[2]}") + timedelta(seconds=1)
    return parsedate_to_datetime(text)


_UTC_SUFFIX = re.compile(r"(?:\s*(?:UTC|GMT)|[zZ])$")
"""`…Z` (and `z`, which fromisoformat refuses), `… UTC`, `… GMT`: UTC written as a suffix."""
_EPOCH_STRING = re.compile(r"[+-]?\d{9,}(?:\.\d*)?")
"""Digits only, at least 9 (1973 on as seconds): fewer are ISO basic dates (`20240101`) or no date at all."""
_LEAP_SECOND = re.compile(r"(.*\d\d:\d\d):60((?:[.,]\d+)?(?:[+-]\d\d(?::?\d\d)?)?)")
