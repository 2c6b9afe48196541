"""The `train` flow under real Prefect: torchrun launched from a task, worker lines in the run log, MLflow run,
a finished run is a no-op, and a failing worker fails the flow with its error."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lmforge.pipeline.errors import LmforgeError
from tests.support.shards import make_shards

pytestmark = pytest.mark.slow

TOML = """
[train]
max_steps = 6
[train.model.gpt]
n_layer = 1
n_head = 2
n_embd = 32
block_size = 32
[train.data]
batch_size = {batch}
seq_len = 32
[train.checkpoint]
every = 3
[train.tracking]
log_every = 2
eval_every = 3
eval_batches = 1
system_metrics = false
sample_tokens = 4
"""


def flow_logs(flow_run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()

    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            return [log.message for log in logs]

    return asyncio.run(read())


def test_train_flow_end_to_end(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    from mlflow import MlflowClient

    from lmforge.flows.train import train_flow
    from lmforge.pipeline.tracking.mlflow_run import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ws = tmp_path / "ws"
    make_shards(ws)
    config = tmp_path / "train.toml"
    config.write_text(TOML.format(batch=4))

    state = train_flow(shards="shards", workspace=str(ws), config_path=str(config), nproc=1, return_state=True)
    result = state.result()
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == ws / "runs" and result["step"] == 6 and not result["skipped"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    assert (run_dir / "manifest.json").is_file()

    run = MlflowClient(tracking_uri(ws)).get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["lmforge.prefect_flow_run_id"] == str(state.state_details.flow_run_id)
    assert {"loss", "val_loss", "val_ppl"} <= set(run.data.metrics)

    messages = flow_logs(state.state_details.flow_run_id)
    assert any("[rank 0]" in m and "step 6/6" in m for m in messages)  # worker lines streamed into Prefect

    again = train_flow(shards="shards", workspace=str(ws), config_path=str(config), nproc=1)
    assert again["skipped"] and again["mlflow_run_id"] == result["mlflow_run_id"]

    config.write_text(TOML.format(batch=100_000))
    with pytest.raises(LmforgeError, match="too few for one global batch"):
        train_flow(shards="shards", workspace=str(ws), config_path=str(config), nproc=1)
