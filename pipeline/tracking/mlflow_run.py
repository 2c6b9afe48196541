"""MLflow for a training run: the only module (with its package) that imports mlflow.

Tracking URI from `MLFLOW_TRACKING_URI`, else `sqlite:///<ws>/mlflow.db`; with a SQLite store the
experiment's artifacts go under `<ws>/mlartifacts`.
Metrics are buffered and sent with `log_batch` every few steps. Params are the flattened config; tags carry ids
(shards, tokenizer, run folder, git sha, Prefect flow run) — never document text.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "lmforge"


def tracking_uri(workspace: str | Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(workspace).resolve() / 'mlflow.db'}"


def ensure_experiment(workspace: str | Path, name: str = EXPERIMENT) -> str:
    """Point MLflow at the workspace (or the env URI) and return the id of experiment `name`, creating it with
    `<ws>/mlartifacts` as artifact location when the store is the workspace's own SQLite file."""
    import mlflow

    uri = tracking_uri(workspace)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # A local SQLite store keeps its artifacts in the workspace too; a server decides for itself.
    location = (Path(workspace).resolve() / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:  # created concurrently by another process
        return mlflow.get_experiment_by_name(name).experiment_id


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"optim": {"lr": 1e-3}} → {"optim.lr": "0.001"}: MLflow params are flat strings."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


class Tracker:
    """One MLflow run, driven by rank 0 (every method is a no-op when `enabled` is false)."""

    def __init__(
        self, workspace: str | Path, *, enabled: bool = True, experiment: str = EXPERIMENT, system_metrics: bool = True
    ) -> None:
        self.workspace = Path(workspace)
        self.enabled = enabled
        self.experiment = experiment
        self.system_metrics = system_metrics and importlib.util.find_spec("psutil") is not None
        self.run_id: str | None = None
        self._buffer: list[Any] = []

    def start(
        self, *, run_name: str, params: dict[str, Any], tags: dict[str, str], run_id: str | None = None
    ) -> str | None:
        """Start (or, given `run_id`, continue) the run; returns its id."""
        if not self.enabled:
            return None
        import mlflow

        experiment_id = ensure_experiment(self.workspace, self.experiment)
        run = mlflow.start_run(
            run_id=run_id,
            experiment_id=None if run_id else experiment_id,
            run_name=None if run_id else run_name,
            log_system_metrics=self.system_metrics,
        )
        self.run_id = run.info.run_id
        mlflow.set_tags(tags)
        if run_id is None:
            mlflow.log_params(flatten(params))
        return self.run_id

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if not self.enabled:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._buffer += [Metric(key=k, value=float(v), timestamp=now, step=step) for k, v in metrics.items()]

    def flush(self) -> None:
        if not self.enabled or not self._buffer:
            return
        from mlflow import MlflowClient

        client = MlflowClient()
        for i in range(0, len(self._buffer), 1000):  # MLflow's per-request metric limit
            client.log_batch(self.run_id, metrics=self._buffer[i : i + 1000])
        self._buffer = []

    def log_loss_plot(self, train: list[tuple[int, float]], val: list[tuple[int, float]]) -> None:
        """A loss-curve PNG artifact (matplotlib, Agg backend: no display needed)."""
        if not self.enabled or not train:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import mlflow

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(*zip(*train, strict=True), label="train loss", linewidth=1)
        if val:
            ax.plot(*zip(*val, strict=True), "o-", label="val loss")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats/token)")
        ax.grid(alpha=0.3)
        ax.legend()
        mlflow.log_figure(fig, "loss_curve.png")
        plt.close(fig)

    def log_samples(self, prompts: list[str], completions: list[str], step: int) -> None:
        """Generated text for fixed prompts, as an MLflow table artifact (model output, not training data)."""
        if not self.enabled or not prompts:
            return
        import mlflow

        mlflow.log_table(
            {"step": [step] * len(prompts), "prompt": prompts, "completion": completions}, artifact_file="samples.json"
        )

    def end(self, status: str = "FINISHED") -> None:
        if not self.enabled or self.run_id is None:
            return
        import mlflow

        self.flush()
        mlflow.end_run(status=status)
