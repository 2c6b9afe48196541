"""Source names that hold personal data stay out of Prefect's records: task run names, logs, artifacts, results."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lmforge.flows.curate import curate_flow
from lmforge.flows.report import source_rows
from tests.support.curate import read_docs, write_jsonl

NAMED = "jane.hunt15@example.org"
"""A source named on the command line: `--input jane.hunt15@example.org=data.jsonl`."""
FOLDER = "bob.hunt15@example.org"
"""A folder named after a person's address, whose name is its source's."""


def _prefect_db() -> Path:
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
    assert url.startswith("sqlite"), url
    return Path(url.split("///", 1)[1])


def _flush_prefect() -> None:
    """Logs and events reach the API from background workers: wait for them before reading the database."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    EventsWorker.drain_all()


def _hits(db: Path, needles: tuple[str, ...]) -> set[tuple[str, str]]:
    """(table, column) of every cell of the database that holds one of `needles`."""
    found = set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cur = con.execute(f'SELECT * FROM "{table}"')
            columns = [c[0] for c in cur.description]
            for row in cur:
                for column, cell in zip(columns, row, strict=True):
                    text = cell.decode("utf-8", "replace") if isinstance(cell, bytes) else cell
                    if isinstance(text, str) and any(n in text for n in needles):
                        found.add((table, column))
    finally:
        con.close()
    return found


@pytest.mark.usefixtures("prefect_harness")
def test_a_source_named_after_a_person_reaches_no_task_run_name_log_artifact_or_result(tmp_path):
    docs = read_docs()
    named = write_jsonl(tmp_path / "in" / "data.jsonl", docs[:5])
    folder = tmp_path / "in" / FOLDER
    write_jsonl(folder / "part.jsonl", docs[5:8])
    (folder / "notes.txt").write_text("A short note about the harbour, long enough to be read. " * 4, encoding="utf-8")
    single = write_jsonl(tmp_path / "in" / f"{FOLDER}.jsonl", docs[8:10])  # a file: its name is its source
    state = curate_flow(
        inputs=[f"{NAMED}={named}", str(folder), str(single)], workspace=str(tmp_path / "ws"), return_state=True
    )
    assert state.is_completed()
    _flush_prefect()
    # The flow's own arguments are recorded as given (README: input paths are; a path or NAME= that holds personal
    # data is the caller's to avoid there); every name, log line, artifact and event lmforge makes is redacted.
    hits = _hits(_prefect_db(), (NAMED, FOLDER)) - {("flow_run", "parameters")}
    assert hits == set()
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    results = [p for p in storage.rglob("*") if p.is_file()] if storage.is_dir() else []
    assert not [p for p in results if any(n.encode() in p.read_bytes() for n in (NAMED, FOLDER))]


def test_the_source_table_artifact_redacts_a_source_an_older_manifest_holds_raw():
    """A skipped run reports the manifest that is there, which an older lmforge wrote with sources as given."""
    stats = {"by_source": {"ann.hunt15@example.org": {"docs_in": 2, "kept": 1, "rejected": {"length_too_short": 1}}}}
    rows = source_rows(stats)
    assert rows[0]["source"].startswith("<EMAIL>~") and rows[0]["docs_in"] == 2
