"""`lmforge backfill` edge cases under real Prefect: partitions whose files change after they were done, gaps in
the range, and a workspace the markers cannot be written to."""

from __future__ import annotations

from datetime import date

import pytest

from lmforge.flows.backfill import backfill
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.partitions import marker_path
from tests.support.curate import read_docs, write_jsonl

D1, D2, D3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)


@pytest.mark.usefixtures("prefect_harness")
def test_a_day_whose_files_changed_after_it_was_done_runs_again(tmp_path):
    """Late or corrected data must not be skipped for ever: the marker names the snapshot of the files as they were,
    so a day whose files changed (or an empty day whose files arrived) is curated again, and its unchanged documents
    are not removed as copies of themselves."""
    docs = read_docs()
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", docs[0:2])
    write_jsonl(root / "date=2026-01-02" / "web.jsonl", docs[4:6])
    (root / "date=2026-01-03").mkdir()  # the day's data has not landed yet
    first = backfill(root, D1, D3, ws)
    assert [o.status for o in first.outcomes] == ["done"] * 3 and first.outcomes[2].docs_in == 0

    write_jsonl(root / "date=2026-01-01" / "web.jsonl", docs[0:4])  # corrected: two more documents
    write_jsonl(root / "date=2026-01-03" / "late.jsonl", docs[6:8])  # arrived late
    again = backfill(root, D1, D3, ws)
    assert [o.status for o in again.outcomes] == ["done", "skipped", "done"]
    day1, _, day3 = again.outcomes
    assert day1.snapshot != first.outcomes[0].snapshot
    assert (day1.docs_in, day1.kept, day1.duplicates_removed) == (4, 4, 0)
    assert (day3.docs_in, day3.kept) == (2, 2)
    # nothing changed since: all skipped
    assert [o.status for o in backfill(root, D1, D3, ws).outcomes] == ["skipped"] * 3


@pytest.mark.usefixtures("prefect_harness")
def test_days_without_a_partition_are_reported(tmp_path):
    docs = read_docs()
    root = tmp_path / "raw"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", docs[0:2])
    write_jsonl(root / "date=2026-01-03" / "web.jsonl", docs[4:6])
    report = backfill(root, D1, D3, tmp_path / "ws")
    assert [o.day for o in report.outcomes] == ["2026-01-01", "2026-01-03"]
    assert report.missing == ["2026-01-02"] and report.to_dict()["missing"] == ["2026-01-02"]


@pytest.mark.usefixtures("prefect_harness")
def test_a_workspace_the_markers_cannot_be_written_to_fails_before_any_run(tmp_path):
    """Not after curating every day (each then "failed" on its marker): one clear error, nothing curated."""
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", read_docs()[0:2])
    ws.mkdir()
    (ws / "backfill").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"--workspace .*ws: cannot write to .*backfill .*give a writable folder"):
        backfill(root, D1, D1, ws)
    assert not (ws / "snapshots").exists() and not marker_path(ws, D1).exists()


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([], r"the stages must include 'curate'"),
        (["curate", "trian"], r"--stages: unknown stage\(s\) \['trian'\]; choose from"),
    ],
)
def test_an_empty_or_misspelt_stage_list_is_refused_before_any_run(tmp_path, stages, message):
    """`stages=[]` curated every day as if no list had been given, and an unknown stage failed each day's flow run
    in turn (the CLI checks both, a caller of `backfill` did not)."""
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", read_docs()[0:2])
    with pytest.raises(ConfigError, match=message):
        backfill(root, D1, D1, ws, stages=stages)
    assert not ws.exists()
