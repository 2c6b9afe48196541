"""The curate report artifacts under real Prefect: readable with thousands of sources, never text or raw PII."""

from __future__ import annotations

import asyncio

import pytest

from lmforge.flows.curate import curate_flow
from lmforge.flows.report import TOP_SOURCES, curate_report_markdown, source_rows
from tests.support.curate import write_jsonl

TEXT = "Rain fell on the old harbour town while the fishing boats waited for the tide to turn {n}. "


async def _artifacts(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a.data for a in arts}


@pytest.mark.usefixtures("prefect_harness")
def test_many_sources_give_a_top_n_table_with_one_others_row(tmp_path):
    """One source per input file is common: 3,000 sources used to give a 3,000-row table in name order."""
    many = TOP_SOURCES + 30
    records = [{"id": f"big-{i}", "text": TEXT.format(n=i) * 4, "source": "big"} for i in range(5)]
    records += [{"id": f"s{i}", "text": TEXT.format(n=i) * 4, "source": f"s{i:03d}|`x`"} for i in range(many)]
    records += [
        {"id": "p", "text": TEXT.format(n="p") * 4 + " mail bob.writer@example.com", "source": "ann@example.org"}
    ]
    src = write_jsonl(tmp_path / "in" / "a.jsonl", records)
    state = curate_flow(inputs=[str(src)], workspace=str(tmp_path / "ws"), return_state=True)
    stats = state.result()["stats"]
    arts = asyncio.run(_artifacts(state.state_details.flow_run_id))

    import json

    table = json.loads(arts["curate-sources"])
    assert len(table) == TOP_SOURCES + 1
    assert table[0]["source"] == "big" and table[0]["docs_in"] == 5
    others = table[-1]
    assert others["source"] == f"({many + 2 - TOP_SOURCES} other sources)"
    for key in ("docs_in", "kept", "rejected"):
        assert sum(row[key] for row in table) == stats[key]
    blob = arts["curate-sources"] + arts["curate-report"]
    assert "ann@example.org" not in blob and "bob.writer" not in blob and "harbour" not in blob


def test_few_sources_are_listed_largest_first_without_an_others_row():
    stats = {
        "by_source": {
            "a": {"docs_in": 1, "kept": 1, "rejected": {}},
            "b": {"docs_in": 3, "kept": 1, "rejected": {"length_too_short": 2}},
        }
    }
    assert [(r["source"], r["top_reason"]) for r in source_rows(stats)] == [("b", "length_too_short"), ("a", "")]


def test_zero_documents_give_an_empty_table_and_a_readable_report():
    stats = {"docs_in": 0, "kept": 0, "rejected": 0, "file_problems": {"empty_file": 3}}
    assert source_rows(stats) == []
    report = curate_report_markdown("abc", stats)
    assert "Documents in **0**" in report and "| empty_file | 3 |" in report and "| (none) | 0 |" in report
