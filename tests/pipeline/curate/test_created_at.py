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
