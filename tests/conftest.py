"""Shared fixtures: one Prefect test harness per session, server probes, small real corpora."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

import pytest

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "600")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# What lmforge caches between processes (py3langid's decoded model) goes to a folder of this run's, not ~/.cache;
# the process that made it (not a worker that inherited it) removes it at the end.
_OWN_CACHE = None if "LMFORGE_CACHE_DIR" in os.environ else tempfile.mkdtemp(prefix="lmforge-test-cache-")
if _OWN_CACHE:
    os.environ["LMFORGE_CACHE_DIR"] = _OWN_CACHE


def pytest_unconfigure(config) -> None:
    if _OWN_CACHE:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


#: What a test must never leave in the checkout: MLflow's default store and artifact root (`./mlruns`, used when a
#: test logs to the default experiment of a SQLite store) and lmforge's default workspace.
_STRAY = ("mlruns", "workspace")


@pytest.fixture(scope="session", autouse=True)
def _nothing_written_into_the_checkout(request):
    """Fail the session when a test wrote `mlruns/` or `workspace/` into the checkout (CI's fresh clone would carry
    them into the next run, and `git status` would show them); what was there before the session is not blamed."""
    root = request.config.rootpath
    before = {name for name in _STRAY if (root / name).exists()}
    yield
    stray = [name for name in _STRAY if name not in before and (root / name).exists()]
    assert not stray, f"a test wrote {stray} into {root}: give it a tmp_path store/workspace"


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test's changes to os.environ end with it. An in-process `main()` without --workspace sets PREFECT_HOME
    to ./workspace/.prefect (env.configure's defaults): left behind, every later flow run of the session kept its
    Prefect results there, in the checkout. Session fixtures (set up before this) keep what they set."""
    saved = os.environ.copy()
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


def _mlflow_globals() -> tuple | None:
    """MLflow's process-wide tracking and registry URIs as set (None: follow MLFLOW_TRACKING_URI), when MLflow is
    loaded; None when it is not (then nothing can have set them)."""
    import sys

    if "mlflow" not in sys.modules:
        return None
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return tracking_utils._tracking_uri, registry_utils._registry_uri


def _put_mlflow_globals_back(saved: tuple | None) -> None:
    now = _mlflow_globals()
    if now is None or now == saved:
        return
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri, registry_utils._registry_uri = saved or (None, None)


@pytest.fixture(autouse=True, scope="module")
def _mlflow_pointed_back_after_each_module():
    """A module fixture that points MLflow at its own store (`mlflow.set_tracking_uri`, a library call in it that
    does) leaves no later module there: `MlflowClient()` in the next module's test read the other store."""
    saved = _mlflow_globals()
    yield
    _put_mlflow_globals_back(saved)


@pytest.fixture(autouse=True)
def _mlflow_pointed_back():
    """The same for each test: MLflow's URIs as the test found them (its module's fixtures' setting included)."""
    saved = _mlflow_globals()
    yield
    _put_mlflow_globals_back(saved)


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
