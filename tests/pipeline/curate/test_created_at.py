"""`created_at` as sources write it: ISO strings, epoch seconds or milliseconds, datetimes and dates → aware UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lmforge.pipeline.curate.process import parse_created_at

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
