"""Real servers as subprocesses for service tests: free loopback ports, health waits, process-group shutdown,
throwaway PostgreSQL databases."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Start `argv` in its own session (so its children die with it); SIGTERM, then SIGKILL, the whole group."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    """Poll `url` until it answers 200; fail with the server's log tail if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered:\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, n: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


@contextlib.contextmanager
def databases(dsn: str, count: int) -> Iterator[list[str]]:
    """`count` fresh, uniquely named databases on the server of `dsn`, dropped afterwards (even while in use)."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    admin = {**parse_dsn(dsn), "dbname": "postgres", "connect_timeout": 5}
    names = [f"lmforge_test_{uuid.uuid4().hex[:10]}" for _ in range(count)]

    def execute(sql: str) -> None:
        conn = psycopg2.connect(**admin)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    created = []
    try:
        for name in names:
            execute(f'CREATE DATABASE "{name}"')
            created.append(name)
        yield names
    finally:
        for name in created:
            execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_db(dsn: str, name: str, driver: str = "postgresql") -> str:
    """The URL of database `name` on the server of `dsn`, with the given SQLAlchemy driver prefix."""
    from psycopg2.extensions import parse_dsn

    p = parse_dsn(dsn)
    auth = p.get("user", "postgres") + (f":{p['password']}" if p.get("password") else "")
    return f"{driver}://{auth}@{p.get('host', HOST)}:{p.get('port', 5432)}/{name}"
