"""`lmforge backfill` edge cases under real Prefect: partitions whose files change after they were done, gaps in
the range, a workspace the markers cannot be written to, damaged markers and manifests of days done, the daily
deployment's marker of a day a backfill trained, and days run side by side that share a document."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from lmforge.flows.backfill import backfill
from lmforge.pipeline.errors import ConfigError
from lmforge.pipeline.partitions import marker_path
from lmforge.pipeline.stage import find_stage
from tests.support.curate import read_docs, write_jsonl

D1, D2, D3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
ROOT = Path(__file__).resolve().parents[2]
PROSE = ROOT / "tests" / "data" / "curate" / "filters"


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


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    "damage",
    [
        lambda m: "{" + json.dumps(m)[:40],  # truncated by a full disk
        lambda m: json.dumps({**m, "stages": None}),  # edited by hand: `covers` raised TypeError
        lambda m: json.dumps({**m, "stages": [["curate"]]}),
    ],
    ids=["truncated", "stages-null", "stages-nested"],
)
def test_a_damaged_marker_runs_its_day_again_with_a_warning_and_the_other_days_still_run(tmp_path, caplog, damage):
    """The check whether a day is done ran outside the per-day guard: a marker that parsed but was not the shape
    written aborted the whole backfill, before any day ran; one that did not parse ran its day again unsaid."""
    docs = read_docs()
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", docs[0:2])
    write_jsonl(root / "date=2026-01-02" / "web.jsonl", docs[4:6])
    first = backfill(root, D1, D1, ws)
    marker = marker_path(ws, D1)
    marker.write_text(damage(json.loads(marker.read_text(encoding="utf-8"))), encoding="utf-8")
    with caplog.at_level("WARNING", logger="lmforge.flows.backfill"):
        report = backfill(root, D1, D2, ws)
    assert report.ok and [o.status for o in report.outcomes] == ["done", "done"]
    day1, day2 = report.outcomes
    assert day1.snapshot == first.outcomes[0].snapshot and day2.note is None
    assert day1.note and str(marker) in day1.note  # the report says which file, and why the day ran again
    assert any("2026-01-01" in r.getMessage() and str(marker) in r.getMessage() for r in caplog.records)
    assert json.loads(marker.read_text(encoding="utf-8"))["stages"] == ["curate"]  # rewritten whole
    assert [o.status for o in backfill(root, D1, D2, ws).outcomes] == ["skipped", "skipped"]


def _tiny_config(path: Path) -> str:
    """configs/tiny-run.toml with a tokenizer small enough for a day of test text, and no cross-day dedup."""
    text = (ROOT / "configs" / "tiny-run.toml").read_text(encoding="utf-8")
    text = text.replace("vocab_size = 2000", "vocab_size = 700\nnum_threads = 1")
    path.write_text(text + "\n[dedup]\nenabled = false\n", encoding="utf-8")
    return str(path)


@pytest.mark.usefixtures("prefect_harness")
def test_a_damaged_manifest_of_a_done_day_fails_that_day_alone(tmp_path):
    """Telling whether a day with `--stages …,shards` is done reads its snapshot's manifest: one that is not JSON
    raised out of `backfill`, and no other day of the range ran. Now that day fails, naming the file, and the rest
    run."""
    prose = [
        {"id": n, "text": (PROSE / n).read_text(encoding="utf-8")}
        for n in ("de_prose.txt", "zh_prose.txt", "en_prose.txt", "en_docs.txt")
    ]
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", read_docs() + prose)
    write_jsonl(root / "date=2026-01-02" / "news.jsonl", read_docs() + prose)  # another source: another snapshot
    stages, config = ["curate", "tokenizer", "shards"], _tiny_config(tmp_path / "tiny.toml")
    first = backfill(root, D1, D1, ws, stages=stages, config_path=config)
    assert [o.status for o in first.outcomes] == ["done"], first.outcomes
    manifest = find_stage(ws, "snapshots", first.outcomes[0].snapshot) / "manifest.json"
    manifest.write_text('{"format": "lmforge.snap', encoding="utf-8")
    report = backfill(root, D1, D2, ws, stages=stages, config_path=config)
    assert [o.status for o in report.outcomes] == ["failed", "done"], report.outcomes
    assert str(manifest) in report.outcomes[0].error and "not valid JSON" in report.outcomes[0].error
    assert str(manifest) in report.outcomes[0].note
    assert not report.ok and report.to_dict()["failed"] == 1


@pytest.mark.usefixtures("prefect_harness")
def test_the_daily_curation_keeps_the_stages_a_backfill_did_on_the_day(tmp_path):
    """`curate-latest` (the `curate-daily` deployment) wrote the day's marker anew with `stages: ["curate"]`: the
    tokenizer (or model) a backfill had made for the day was forgotten, and the next backfill of those stages did
    the day again. Curating it to the same snapshot adds to the marker; new files start it anew."""
    from lmforge.flows.deploy import curate_latest_flow

    prose = [{"id": n, "text": (PROSE / n).read_text(encoding="utf-8")} for n in ("en_prose.txt", "en_docs.txt")]
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-01" / "web.jsonl", read_docs() + prose)
    stages, config = ["curate", "tokenizer"], _tiny_config(tmp_path / "tiny.toml")
    first = backfill(root, D1, D1, ws, stages=stages, config_path=config)
    assert [o.status for o in first.outcomes] == ["done"], first.outcomes
    marked = json.loads(marker_path(ws, D1).read_text(encoding="utf-8"))

    curate_latest_flow(workspace=str(ws), input_root=str(root), config_path=config)
    after = json.loads(marker_path(ws, D1).read_text(encoding="utf-8"))
    assert after["stages"] == ["curate", "tokenizer"] and after["tokenizer"] == marked["tokenizer"]
    assert after["snapshot"] == marked["snapshot"] and after["flow_run_id"] != marked["flow_run_id"]
    assert [o.status for o in backfill(root, D1, D1, ws, stages=stages, config_path=config).outcomes] == ["skipped"]

    write_jsonl(root / "date=2026-01-01" / "late.jsonl", read_docs()[:2])  # another snapshot: the tokenizer is stale
    curate_latest_flow(workspace=str(ws), input_root=str(root), config_path=config)
    renewed = json.loads(marker_path(ws, D1).read_text(encoding="utf-8"))
    assert renewed["stages"] == ["curate"] and "tokenizer" not in renewed
    assert renewed["snapshot"] != marked["snapshot"]


def test_the_summary_says_why_a_day_ran_again(tmp_path, capsys, monkeypatch):
    """The per-day summary printed a re-run day as plain `done`: that its marker was damaged (or its outputs gone,
    its files changed) was in a log line only."""
    from lmforge.flows import backfill as module
    from lmforge.flows.backfill import BackfillReport, PartitionOutcome
    from lmforge.flows.cli import main

    root = tmp_path / "raw"
    (root / "date=2026-01-01").mkdir(parents=True)
    note = "ran again: its marker ws/backfill/date=2026-01-01.json is damaged (it is not valid JSON, or not a marker)"
    report = BackfillReport([PartitionOutcome("2026-01-01", "done", note=note)])
    monkeypatch.setattr(module, "backfill", lambda *args, **kwargs: report)
    args = ["backfill", "--from", "2026-01-01", "--to", "2026-01-01", "--input-root", str(root)]
    assert main([*args, "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out.splitlines()
    day = next(i for i, line in enumerate(out) if line.startswith("2026-01-01"))
    assert out[day].split()[1] == "done" and out[day + 1].split() == ["note:", *note.split()]


@pytest.mark.usefixtures("prefect_harness")
def test_days_run_together_still_keep_one_copy_of_a_document_they_share(tmp_path, monkeypatch):
    """With `--concurrency 2`, two days that finished curating at the same moment both asked the index before
    either had added its documents: a document both held was kept twice. Which day keeps it may vary with K > 1;
    that one of them does not is what the dedup index is for."""
    import contextlib
    import threading

    from lmforge.pipeline.dedup.index import LocalIndex

    docs = read_docs()
    root, ws = tmp_path / "raw", tmp_path / "ws"
    write_jsonl(root / "date=2026-01-02" / "web.jsonl", [*docs[0:2], {**docs[3], "id": "shared-day2"}])
    write_jsonl(root / "date=2026-01-03" / "web.jsonl", [*docs[4:6], {**docs[3], "id": "shared-day3"}])
    # the two days' lookups meet (as they do when the days finish together), unless one cannot start meanwhile
    meeting, lookup = threading.Barrier(2, timeout=10), LocalIndex.lookup

    def lookup_together(self, *args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait()
        return lookup(self, *args, **kwargs)

    monkeypatch.setattr(LocalIndex, "lookup", lookup_together)
    report = backfill(root, D2, D3, ws, concurrency=2)
    assert report.ok and [o.status for o in report.outcomes] == ["done", "done"]
    assert sorted(o.duplicates_removed for o in report.outcomes) == [0, 1]
    assert sum(o.kept for o in report.outcomes) == 5
