"""The curate flow under real Prefect: one task per input file, a report artifact, no text in Prefect's records."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lmforge.flows.curate import curate_flow
from tests.support.curate import read_docs, write_jsonl


async def _flow_records(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async with get_client() as client:
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        flow_run = await client.read_flow_run(flow_run_id)
    return flow_run, tasks, arts, logs


@pytest.mark.usefixtures("prefect_harness")
def test_a_deleted_snapshot_is_curated_again_not_taken_from_prefects_cache(tmp_path):
    """Prefect keeps its task cache (ws/.prefect, or a server's) when a snapshot folder is deleted, but the unit
    files its cached results point at went with the finished snapshot's work folder: the units must run again."""
    import shutil

    from lmforge.pipeline.digest import sha256_file

    src = write_jsonl(tmp_path / "in" / "a.jsonl", read_docs())
    first = curate_flow(inputs=[str(src)], workspace=str(tmp_path / "ws"))
    data = sorted(Path(first["path"]).glob("data/*.parquet"))
    digests = [sha256_file(p) for p in data]
    shutil.rmtree(first["path"])
    again = curate_flow(inputs=[str(src)], workspace=str(tmp_path / "ws"))
    assert not again["skipped"] and again["snapshot_id"] == first["snapshot_id"]
    assert [sha256_file(p) for p in sorted(Path(again["path"]).glob("data/*.parquet"))] == digests


@pytest.mark.usefixtures("prefect_harness")
def test_curate_flow_maps_one_task_per_file_and_publishes_report(tmp_path):
    docs = read_docs()
    a = write_jsonl(tmp_path / "in" / "a.jsonl", docs[:6])
    b = write_jsonl(tmp_path / "in" / "b.jsonl", docs[6:])
    state = curate_flow(inputs=[str(a), str(b)], workspace=str(tmp_path / "ws"), return_state=True)
    result = state.result()
    assert result["stats"]["docs_in"] == len(docs) and not result["skipped"]
    flow_run, tasks, arts, logs = asyncio.run(_flow_records(state.state_details.flow_run_id))
    assert flow_run.state.is_completed()
    curate_tasks = [t for t in tasks if t.name.startswith("curate-")]
    assert len(curate_tasks) == 2
    keys = {a.key for a in arts}
    assert {"curate-report", "curate-sources"} <= keys
    report = next(a for a in arts if a.key == "curate-report").data
    assert "Removal reasons" in report and "exact_duplicate" in report
    # nothing document-like in Prefect's records: no sentence of any document appears in logs or artifacts
    blob = " ".join([str(x.data) for x in arts] + [lg.message for lg in logs] + [str(flow_run.parameters)])
    for d in docs:
        assert d["text"][:40] not in blob
    assert "maria.keller" not in blob
    # second run: the snapshot exists, the flow skips curation
    again = curate_flow(inputs=[str(a), str(b)], workspace=str(tmp_path / "ws"))
    assert again["skipped"] and again["snapshot_id"] == result["snapshot_id"]


@pytest.mark.usefixtures("prefect_harness")
def test_curate_flow_uses_the_dedup_index_of_the_config(tmp_path, redis_url):
    import uuid

    import redis

    prefix = f"lmforge-test:{uuid.uuid4().hex[:12]}"
    config = tmp_path / "redis.toml"
    config.write_text(f'[dedup]\nindex = "{redis_url}?prefix={prefix}"\n', encoding="utf-8")
    a = write_jsonl(tmp_path / "in" / "a.jsonl", read_docs())
    client = redis.Redis.from_url(redis_url)
    try:
        curate_flow(inputs=[str(a)], workspace=str(tmp_path / "ws"), config_path=str(config))
        assert client.exists(f"{prefix}:meta")
        assert not (tmp_path / "ws" / "dedup-index").exists()
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


@pytest.mark.usefixtures("prefect_harness")
def test_an_index_built_with_other_parameters_is_refused_before_any_file_is_curated(tmp_path):
    from lmforge.pipeline.errors import ConfigError

    a = write_jsonl(tmp_path / "in" / "a.jsonl", read_docs())
    b = write_jsonl(tmp_path / "in" / "b.jsonl", read_docs()[:4])
    ws = tmp_path / "ws"
    curate_flow(inputs=[str(a)], workspace=str(ws))  # builds ws/dedup-index with the default threshold
    with pytest.raises(ConfigError, match=r"threshold: index 0\.8, this run 0\.9"):
        curate_flow(inputs=[str(b)], workspace=str(ws), overrides={"dedup": {"threshold": 0.9}})
    # refused before the first unit was curated, not after the last
    assert len(list((ws / "snapshots" / ".work").glob("*/parts/*.parquet"))) == 0
