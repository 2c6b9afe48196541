"""A dead MLflow server (MLFLOW_TRACKING_URI pointing where nothing listens): every command that reads the registry
says so in one line, at once, and does not claim a registration it never attempted."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lmforge.pipeline.registry.registry import TrackingUnreachableError


@pytest.fixture
def dead_server(monkeypatch) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    # Without the check, MLflow retried each request for minutes; no retries keeps a regression fast to see.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return url


def test_generate_from_a_dead_server_says_it_is_unreachable(dead_server: str, tmp_path: Path) -> None:
    from lmforge.flows.commands.generate import from_mlflow

    with pytest.raises(TrackingUnreachableError, match=f"{dead_server} is unreachable") as exc:
        from_mlflow("models:/lmforge@champion", "The", tmp_path, {"max_new_tokens": 2})
    assert "registered" not in str(exc.value) and "\n" not in str(exc.value)


def test_lineage_from_a_dead_server_does_not_claim_a_registration(dead_server: str, tmp_path: Path, capsys) -> None:
    from lmforge.flows.cli import main

    assert main(["lineage", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{dead_server} is unreachable" in err and "registered" not in err and "\n" not in err
