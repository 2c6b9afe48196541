"""Date partitions and backfill markers (pipeline/partitions.py), no Prefect."""

from __future__ import annotations

from datetime import date

import pytest

from lmforge.pipeline.errors import InputError
from lmforge.pipeline.partitions import list_partitions, marker_path, missing_days, read_marker, write_marker

D1 = date(2026, 1, 1)


@pytest.mark.parametrize(
    "content",
    [b"", b'{"format": "lmforge.backfill-ma', b"[]", b"null", b'"done"', b"\xff\xfe{"],
    ids=["empty", "truncated", "list", "null", "string", "not-utf8"],
)
def test_a_corrupt_marker_counts_as_not_done(tmp_path, content):
    write_marker(tmp_path, D1, {"stages": ["curate"], "snapshot": "abc"})
    marker_path(tmp_path, D1).write_bytes(content)
    assert read_marker(tmp_path, D1) is None


def test_a_partition_name_that_is_not_zero_padded_is_an_error_other_names_are_ignored(tmp_path):
    (tmp_path / "date=2026-01-05").mkdir()
    (tmp_path / "date=2026-01-05.bak").mkdir()  # a backup, not a partition
    (tmp_path / "date=2026-01-07").write_text("a file, not a partition folder")
    assert [p.day for p in list_partitions(tmp_path)] == [date(2026, 1, 5)]
    (tmp_path / "date=2026-1-6").mkdir()
    with pytest.raises(InputError, match=r"date=2026-1-6.*rename it date=2026-01-06"):
        list_partitions(tmp_path)


def test_missing_days_are_the_gaps_in_the_range(tmp_path):
    for d in ("2026-01-01", "2026-01-04"):
        (tmp_path / f"date={d}").mkdir()
    parts = list_partitions(tmp_path)
    assert missing_days(parts, date(2026, 1, 1), date(2026, 1, 4)) == [date(2026, 1, 2), date(2026, 1, 3)]
    assert missing_days(parts, date(2026, 1, 4), date(2026, 1, 4)) == []
