"""A dead MLflow server (MLFLOW_TRACKING_URI pointing where nothing listens): every command that reads the registry
says so in one line, at once, and does not claim a registration it never attempted."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
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


@pytest.mark.parametrize("failing", ["get_model_version_by_alias", "search_model_versions"])
def test_a_store_failing_after_the_model_was_found_is_no_missing_alias(monkeypatch, failing: str) -> None:
    """The model was found, then the store failed (a 503 while it restarts): the alias lookup's error was reported
    as "model 'm' has no alias 'champion' (aliases: @champion→v1 …)", a not-found (exit 2) that listed the alias as
    there; the version listing's was a multi-line traceback."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

    from lmforge.pipeline.registry import registry

    def unavailable(*args: object, **kwargs: object) -> None:
        raise MlflowException(
            "API request failed with error code 503 != 200.\nResponse body: 'Service Unavailable'",
            error_code=TEMPORARILY_UNAVAILABLE,
        )

    class Client:
        def get_registered_model(self, name: str) -> object:
            return type("Model", (), {"aliases": {"champion": "1"}})()

        def search_model_versions(self, *args: object) -> list:
            return [type("Version", (), {"version": "1"})()]

        def get_model_version_by_alias(self, name: str, alias: str) -> object:
            return type("Version", (), {"version": "1"})()

    monkeypatch.setattr(Client, failing, unavailable)
    monkeypatch.setattr(mlflow, "MlflowClient", Client)
    with pytest.raises(TrackingUnreachableError, match=r"registered model 'm' \(API request failed.*nothing was read"):
        registry.resolve_version("models:/m@champion")


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that answers every GET with 200, as MLflow's /health does; yields its URL and the paths asked."""
    asked: list[str] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_url_with_credentials_is_reachable_and_its_password_never_shown(health_server, dead_server) -> None:
    """`http://user:password@host` is how MLflow takes basic auth in the URL: the health check handed it to urllib,
    which took `user:password@host` for the host name, so every register, lineage and generate said the server was
    unreachable, and printed the password in that message."""
    from lmforge.pipeline.registry.registry import check_reachable

    url, asked = health_server
    check_reachable(url.replace("http://", "http://lmforge:s3cret@"))
    assert asked == ["/health"]
    with pytest.raises(TrackingUnreachableError, match="is unreachable") as exc:
        check_reachable(dead_server.replace("http://", "http://lmforge:s3cret@"), timeout=2)
    assert "s3cret" not in str(exc.value) and "lmforge:***@127.0.0.1:" in str(exc.value)
