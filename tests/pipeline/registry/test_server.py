"""Registering through an MLflow server (PostgreSQL store, proxied artifacts): `lineage --verify` reads the model
package through the server, since no local path leads to it. Needs PostgreSQL on 127.0.0.1:5432 (skipped
otherwise); the server is stopped and its throwaway database dropped afterwards."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lmforge.pipeline.registry import lineage
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import register, resolve_version, use_tracking
from tests.support.servers import HOST, databases, free_port, process, wait_http, with_db

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MODEL = "lmforge-server"


@pytest.fixture(scope="module")
def mlflow_server(postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory):
    """(URL, artifacts folder) of an MLflow server started for this module."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    with databases(postgres_dsn, 1) as (db,):
        argv = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            with_db(postgres_dsn, db, "postgresql+psycopg2"),
            "--artifacts-destination",
            str(tmp / "mlartifacts"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        with process(argv, env, tmp / "mlflow-server.log") as proc:
            wait_http(f"http://{HOST}:{port}/health", proc, tmp / "mlflow-server.log")
            yield f"http://{HOST}:{port}", tmp / "mlartifacts"


def test_verify_reads_the_package_through_the_server(chain, trained, mlflow_server, monkeypatch) -> None:
    from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept

    url, artifacts = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with mlflow_uris_kept():  # `use_tracking` points MLflow at the server: the tests after this use their own store
        registered = register(chain.workspace, trained, RegistryConfig(model_name=MODEL, smoke_tokens=0))
        use_tracking(chain.workspace)
        tags = dict(resolve_version(f"models:/{MODEL}/{registered.version}").tags)
        assert not tags["lmforge.package_model_id"].startswith("file:")
        assert lineage.verify(tags)[1] == []
        weights = next(p for p in artifacts.rglob("model.pt") if tags["lmforge.package_model_id"] in str(p))
        original = weights.read_bytes()
        try:
            weights.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
            problems = lineage.verify(tags)[1]
            assert len(problems) == 1 and "packaged weights" in problems[0]
        finally:
            weights.write_bytes(original)
