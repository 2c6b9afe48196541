"""`created_at` values as curation reads them: every common way a corpus writes a date, as an aware UTC datetime."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

_EPOCH_MS_FROM = 1e11


def parse_created_at(value: Any) -> datetime | None:
    """ISO-8601 strings, epoch seconds or milliseconds (numbers or strings of digits), RFC 2822 dates (HTTP and
    e-mail headers), datetimes or dates → aware UTC datetime (naive ones are taken as UTC); anything else → None.
    A number past `_EPOCH_MS_FROM` (either side of 1970) is milliseconds: as seconds it would be after the year
    5000, and JavaScript and most crawlers write milliseconds."""
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, date):
            dt = datetime(value.year, value.month, value.day)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            dt = _from_epoch(value)
        elif isinstance(value, str):
            dt = _parse_date_string(value)
        else:
            return None
        # In UTC inside the try: `0001-01-01T00:00:00+01:00` (.NET's DateTimeOffset.MinValue) is before year 1 there.
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return None


def _from_epoch(value: float) -> datetime:
    seconds = value / 1000 if abs(value) >= _EPOCH_MS_FROM else value
    return datetime.fromtimestamp(float(seconds), tz=UTC)


def _parse_date_string(value: str) -> datetime:
    """`parse_created_at` for a string; raises ValueError (or TypeError, OverflowError) when it is no date."""
    text = _UTC_SUFFIX.sub("+00:00", value.strip())
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if _EPOCH_STRING.fullmatch(text):  # a Parquet string column or a JSON string holding epoch seconds/ms
        return _from_epoch(int(text) if text.lstrip("+-").isdigit() else float(text))
    if leap := _LEAP_SECOND.fullmatch(text):
        # datetime has no second 60: a leap second is the instant after :59, where POSIX time puts it as well.
        return datetime.fromisoformat(f"{leap[1]}:59{leap[2]}") + timedelta(seconds=1)
    return parsedate_to_datetime(text)


_UTC_SUFFIX = re.compile(r"(?:\s*(?:UTC|GMT)|[zZ])$")
"""`…Z` (and `z`, which fromisoformat refuses), `… UTC`, `… GMT`: UTC written as a suffix."""
_EPOCH_STRING = re.compile(r"[+-]?\d{9,}(?:\.\d*)?")
"""Digits only, at least 9 (1973 on as seconds): fewer are ISO basic dates (`20240101`) or no date at all."""
_LEAP_SECOND = re.compile(r"(.*\d\d:\d\d):60((?:[.,]\d+)?(?:[+-]\d\d(?::?\d\d)?)?)")
