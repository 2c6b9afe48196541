"""`lmforge backfill` under real Prefect: one flow run per date partition, cross-day dedup via the persistent index,
idempotent re-runs, and clear errors for bad ranges, dates and an unreachable API."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import date

import pyarrow.parquet as pq
import pytest

from lmforge.flows.backfill import backfill
from lmforge.flows.cli import main
from lmforge.pipeline.errors import ConfigError, InputError, LmforgeError
from lmforge.pipeline.partitions import list_partitions, marker_path, parse_day, select_partitions
from lmforge.pipeline.stage import find_stage
from tests.support.curate import read_docs, write_jsonl

D1, D2, D3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)


@pytest.fixture
def root(tmp_path):
    """Three days of real text; day 3 repeats a document of day 1 (under another id)."""
    docs = read_docs()
    r = tmp_path / "raw"
    write_jsonl(r / "date=2026-01-01" / "web.jsonl", docs[0:4])
    write_jsonl(r / "date=2026-01-02" / "web.jsonl", docs[4:6])
    write_jsonl(r / "date=2026-01-03" / "web.jsonl", docs[6:8] + [{**docs[0], "id": "en-bread-day3"}])
    (r / "notes").mkdir()  # not a partition: ignored
    return r


@pytest.fixture
def own_env(monkeypatch):
    """The CLI's --workspace callback sets process env defaults (Prefect home, MLflow URI); keep them local."""
    monkeypatch.setattr(os, "environ", os.environ.copy())


async def _flow_runs(ids):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return [await client.read_flow_run(i) for i in ids]


@pytest.mark.usefixtures("prefect_harness")
def test_backfill_one_run_per_partition_dedups_across_days_and_skips_on_rerun(root, tmp_path):
    ws = tmp_path / "ws"
    seen = []
    report = backfill(root, D1, D3, ws, on_outcome=lambda o: seen.append(o.day))
    assert report.ok and [o.status for o in report.outcomes] == ["done"] * 3
    assert seen == ["2026-01-01", "2026-01-02", "2026-01-03"]  # date order
    # three separate top-level flow runs, all completed
    runs = asyncio.run(_flow_runs([o.flow_run_id for o in report.outcomes]))
    assert len({r.id for r in runs}) == 3
    assert all(r.state.is_completed() and r.parent_task_run_id is None for r in runs)
    assert [r.name for r in runs] == [f"backfill-{d}" for d in seen]
    # three snapshots; the day-3 copy of a day-1 document was removed through the index
    day1, _, day3 = report.outcomes
    assert len({o.snapshot for o in report.outcomes}) == 3
    dups = pq.read_table(find_stage(ws, "snapshots", day3.snapshot) / "duplicates.parquet").to_pylist()
    assert len(dups) == 1 and dups[0]["reason"] == "exact_duplicate"
    day1_ids = pq.read_table(find_stage(ws, "snapshots", day1.snapshot) / "data").column("doc_id").to_pylist()
    assert dups[0]["duplicate_of"] in day1_ids
    assert day3.duplicates_removed == 1 and day3.kept == day3.docs_in - 1
    # markers: ids and counts only
    marker = json.loads(marker_path(ws, D3).read_text())
    assert marker["snapshot"] == day3.snapshot and marker["stages"] == ["curate"]
    assert marker["duplicates_removed"] == 1 and "text" not in json.dumps(marker)
    # re-run: nothing to do
    again = backfill(root, D1, D3, ws)
    assert [o.status for o in again.outcomes] == ["skipped"] * 3
    assert [o.snapshot for o in again.outcomes] == [o.snapshot for o in report.outcomes]


@pytest.mark.usefixtures("prefect_harness")
def test_backfill_resumes_after_a_partial_run_and_runs_k_at_a_time(root, tmp_path):
    ws = tmp_path / "ws"
    first = backfill(root, D1, D1, ws)
    assert [o.status for o in first.outcomes] == ["done"]
    # the "crash" left days 2-3 undone: the re-run over the whole range does exactly those, two at a time
    rest = backfill(root, D1, D3, ws, concurrency=2)
    assert [(o.day, o.status) for o in rest.outcomes] == [
        ("2026-01-01", "skipped"),
        ("2026-01-02", "done"),
        ("2026-01-03", "done"),
    ]
    assert rest.ok and all(marker_path(ws, d).is_file() for d in (D1, D2, D3))


@pytest.mark.usefixtures("prefect_harness")
def test_a_day_whose_snapshot_was_deleted_runs_again(root, tmp_path):
    """Deleting a day's snapshot (to curate it again, or to free space) must not leave the day "done": its marker
    names a snapshot that is gone, so the re-run curates it again, to the same snapshot."""
    import shutil

    ws = tmp_path / "ws"
    first = backfill(root, D1, D2, ws)
    shutil.rmtree(find_stage(ws, "snapshots", first.outcomes[1].snapshot))
    again = backfill(root, D1, D2, ws)
    assert [o.status for o in again.outcomes] == ["skipped", "done"]
    assert again.outcomes[1].snapshot == first.outcomes[1].snapshot
    assert find_stage(ws, "snapshots", again.outcomes[1].snapshot).is_dir()


def test_partitions_are_listed_in_date_order_and_bad_ranges_are_clear(root):
    assert [p.day for p in list_partitions(root)] == [D1, D2, D3]
    assert [p.day for p in select_partitions(root, D2, D3)] == [D2, D3]
    with pytest.raises(
        InputError,
        match=r"no date partitions between 2026-02-01 and 2026-02-28.*2026-01-01, "
        r"2026-01-02, 2026-01-03",
    ):
        select_partitions(root, date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ConfigError, match="--from 2026-01-03 is after --to 2026-01-01"):
        select_partitions(root, D3, D1)
    with pytest.raises(ConfigError, match=r"--to: '2026-13-01' is not a date"):
        parse_day("2026-13-01", "--to")
    (root / "date=2026-02-30").mkdir()
    with pytest.raises(InputError, match="date=2026-02-30"):
        list_partitions(root)


@pytest.mark.usefixtures("own_env")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-03-01", "--to", "2026-03-31"], "no date partitions between 2026-03-01 and 2026-03-31"),
        (["--from", "2026-01-03", "--to", "2026-01-01"], "is after --to"),
        (["--from", "Jan 1", "--to", "2026-01-01"], "--from: 'Jan 1' is not a date"),
        (["--from", "2026-01-01", "--to", "2026-01-03", "--stages", "tokenizer"], "must include 'curate'"),
        (["--from", "2026-01-01", "--to", "2026-01-03", "--index", "bogus://x"], "--index: 'bogus://x' is neither"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(root, tmp_path, capsys, args, message):
    rc = main(["backfill", "--input-root", str(root), "--workspace", str(tmp_path / "ws"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("own_env")
def test_unreachable_prefect_api_is_a_clear_error_before_any_work(root, tmp_path, capsys):
    os.environ["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
    with pytest.raises(LmforgeError, match="Prefect API at http://127.0.0.1:9/api is unreachable"):
        backfill(root, D1, D3, tmp_path / "ws")
    assert not (tmp_path / "ws" / "backfill").exists()
    rc = main(
        [
            "backfill",
            "--input-root",
            str(root),
            "--workspace",
            str(tmp_path / "ws"),
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-03",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "unreachable" in err and "Traceback" not in err
