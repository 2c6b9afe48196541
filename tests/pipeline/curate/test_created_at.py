"""`created_at` as sources write it: ISO strings, epoch seconds or milliseconds, datetimes and dates → aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lmforge.pipeline.curate.dates import parse_created_at

NOON = datetime(2023, 11, 14, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2023-11-14T12:00:00Z",
        "2023-11-14T12:00:00+00:00",
        " 2023-11-14 12:00:00 ",  # naive: taken as UTC
        "2023-11-14T13:00:00+01:00",
        1699963200,
        1699963200.0,
        1699963200000,  # epoch milliseconds (JavaScript, most web crawls)
        datetime(2023, 11, 14, 12, 0),
        datetime(2023, 11, 14, 7, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_the_same_instant_in_every_form(value) -> None:
    assert parse_created_at(value) == NOON


def test_a_date_is_its_midnight_in_utc() -> None:
    assert parse_created_at(date(2023, 11, 14)) == datetime(2023, 11, 14, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "yesterday", "2023-13-45", True, [2023], {"y": 2023}, float("nan"), 1e30])
def test_anything_else_is_no_date(value) -> None:
    assert parse_created_at(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-11-14T12:00:00z", NOON),  # a lower-case zone letter (fromisoformat takes only "Z")
        ("2023-11-14 12:00:00 UTC", NOON),
        ("2023-11-14 12:00:00 GMT", NOON),
        ("Tue, 14 Nov 2023 12:00:00 GMT", NOON),  # RFC 2822: HTTP Last-Modified, WARC and e-mail headers
        ("Tue, 14 Nov 2023 13:00:00 +0100", NOON),
        ("1699963200", NOON),  # epoch seconds in a string column
        ("1699963200000", NOON),  # epoch milliseconds in a string column
        (" 1699963200.0 ", NOON),
        ("20231114", datetime(2023, 11, 14, tzinfo=UTC)),  # eight digits are an ISO basic date, not 1970 seconds
        ("2016-12-31T23:59:60Z", datetime(2017, 1, 1, tzinfo=UTC)),  # a leap second: the instant after :59
        ("2016-12-31T23:59:60.5+01:00", datetime(2016, 12, 31, 23, 0, 0, 500000, tzinfo=UTC)),
        (-1699963200000, datetime(1916, 2, 18, 12, 0, tzinfo=UTC)),  # milliseconds before 1970 too
        ("9999-12-31T23:59:59", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_odd_but_common_forms(value, expected) -> None:
    assert parse_created_at(value) == expected


@pytest.mark.parametrize(
    "value", ["0000-01-01", "9999-12-31T23:59:59-01:00", "12345", "1e30", "Z", "UTC", "2016-12-31T23:59:61Z", "-"]
)
def test_what_is_still_no_date(value) -> None:
    assert parse_created_at(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (20240101, datetime(2024, 1, 1, tzinfo=UTC)),  # was 1970-08-23 (epoch seconds)
        (20231114, datetime(2023, 11, 14, tzinfo=UTC)),  # the same day as the string "20231114"
        (20240229.0, datetime(2024, 2, 29, tzinfo=UTC)),  # an integer column with nulls, read as floats
        (19991231, datetime(1999, 12, 31, tzinfo=UTC)),
        (20240231, datetime(1970, 8, 23, 6, 17, 11, tzinfo=UTC)),  # no such day: epoch seconds, as before
        (20241301, datetime(1970, 8, 23, 6, 35, 1, tzinfo=UTC)),  # no month 13
        (20240101.5, datetime(1970, 8, 23, 6, 15, 1, 500000, tzinfo=UTC)),  # not an integer
        (1234567, datetime(1970, 1, 15, 6, 56, 7, tzinfo=UTC)),  # seven digits
        (123456789, datetime(1973, 11, 29, 21, 33, 9, tzinfo=UTC)),  # nine digits
        (-20240101, datetime(1969, 5, 11, 17, 44, 59, tzinfo=UTC)),
    ],
)
def test_an_eight_digit_integer_that_is_a_date_is_that_date(value, expected) -> None:
    """Integers like 20240101 (Hive and SQL exports) were read as epoch seconds, 1970-08-23, while the string
    "20240101" was 2024-01-01; any other integer stays epoch seconds (or milliseconds)."""
    assert parse_created_at(value) == expected
    if isinstance(value, int) and value > 0 and len(str(value)) == 8 and expected.year > 1970:
        assert parse_created_at(str(value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (20240101123000, datetime(2024, 1, 1, 12, 30, tzinfo=UTC)),  # CDX / Wayback timestamps: was the year 2611
        ("20240101123000", datetime(2024, 1, 1, 12, 30, tzinfo=UTC)),
        (1699963200000000, NOON),  # epoch microseconds (Spark, BigQuery): was no date
        ("1699963200000000", NOON),
        (1699963200000000000, NOON),  # epoch nanoseconds (pandas, Arrow)
        (20241301000000, datetime(2611, 6, 4, 7, 36, 40, tzinfo=UTC)),  # no month 13: milliseconds, as before
    ],
)
def test_crawl_timestamps_and_finer_epoch_units_are_read(value, expected) -> None:
    """Fourteen digits are YYYYMMDDhhmmss when they spell a time (as milliseconds they are after the year 2286);
    epoch numbers past milliseconds' range (after 5138 as milliseconds) are micro- or nanoseconds."""
    assert parse_created_at(value) == expected
