"""Shared fixtures: one Prefect test harness per session, server probes, small real corpora."""

from __future__ import annotations

import os
import socket

import pytest

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect API (SQLite) for the whole session: start once, as DESIGN.md advises."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=600):
        yield


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not port_open("127.0.0.1", 6379):
        pytest.skip("no Redis server on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    if not port_open("127.0.0.1", 5432):
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    return "postgresql://postgres@127.0.0.1:5432/test"
