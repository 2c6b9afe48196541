"""Process-wide settings applied before Prefect or MLflow are imported.

With no server configured, lmforge keeps everything a run produces under its workspace: Prefect's home (its
ephemeral API database, logs, persisted results) and MLflow's SQLite store and artifacts. So one folder holds the
whole lineage, and the privacy canary test can search all of it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The ephemeral API server can take >20 s to start on a busy 2-core machine (DESIGN.md); wait longer, not fail.
EPHEMERAL_STARTUP_TIMEOUT_S = "600"


def configure(workspace: str | Path, create: bool = False) -> None:
    """Point Prefect and MLflow at the workspace unless the user configured servers; `create` makes the folders
    (a command that runs work), without it only the environment is set (e.g. for `--help`)."""
    ws = Path(workspace).resolve()
    if not os.environ.get("PREFECT_API_URL"):
        os.environ.setdefault("PREFECT_HOME", str(ws / ".prefect"))
        # The embedded server lmforge starts does not phone home: offline (the usual place for private corpora) its
        # telemetry only logs "Failed to send telemetry" on every command, and it writes to the SQLite database
        # while the run does ("database is locked"). Set PREFECT_SERVER_ANALYTICS_ENABLED=true to send it.
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        if os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"].lower() in ("false", "0"):
            # Prefect's client follows the server's setting, but still printed its "collects anonymous usage data"
            # notice on a terminal's first run; DO_NOT_TRACK is the client-side switch that silences it too.
            os.environ.setdefault("DO_NOT_TRACK", "1")
    # MLflow 3 sends usage telemetry from every process that tracks a run; corpora are often private and offline.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if create:
        _writable_folder(ws, ws)
        if not os.environ.get("PREFECT_API_URL"):
            _writable_folder(Path(os.environ["PREFECT_HOME"]), ws)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT_S)
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    for name, value in (("MLFLOW_TRACKING_URI", f"sqlite:///{ws / 'mlflow.db'}"), ("LMFORGE_WORKSPACE", str(ws))):
        if name not in os.environ:
            os.environ[name] = value
            _WORKSPACE_DEFAULTS[name] = value


def _writable_folder(folder: Path, ws: Path) -> None:
    """Make `folder` and check a file can be created in it: a read-only workspace otherwise kept Prefect's embedded
    server retrying its SQLite database until the startup timeout (minutes), then failed with a traceback."""
    import tempfile

    from lmforge.pipeline.errors import ConfigError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".lmforge-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(
            f"--workspace {ws}: cannot write to {folder} ({exc.strerror or exc}); give a writable folder"
            + (" (or set PREFECT_HOME)" if folder != ws else "")
        ) from None


#: Variables `configure` set from a workspace (not the user): their values belong to that workspace only.
_WORKSPACE_DEFAULTS: dict[str, str] = {}


def worker_environment() -> dict[str, str]:
    """The environment for a Prefect worker's flow runs: this process's, less what `configure` derived from its own
    workspace. Each flow run names its workspace as a parameter; the worker's `./workspace` store must not win."""
    return {k: v for k, v in os.environ.items() if _WORKSPACE_DEFAULTS.get(k) != v}


def mlflow_artifact_root(workspace: str | Path) -> str:
    return (Path(workspace).resolve() / "mlartifacts").as_uri()


def workspace_from_argv(argv: list[str]) -> str:
    """The `--workspace` a command line names (else LMFORGE_WORKSPACE, else ./workspace), read before Prefect is
    imported: Prefect reads PREFECT_HOME once, when it is first imported."""
    for i, arg in enumerate(argv):
        if arg == "--workspace" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return os.environ.get("LMFORGE_WORKSPACE", "workspace")
