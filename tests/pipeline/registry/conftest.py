"""One lineage chain per session (raw → snapshot → tokenizer → shards), a trained and an untrained run, and the
trained run registered as the first version: real curate, sentencepiece, torch and MLflow on SQLite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.registry import Chain, build_chain, train_run

NAME = "lmforge"


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = build_chain(tmp_path_factory.mktemp("registry"))
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{chain.workspace.resolve() / 'mlflow.db'}"
    yield chain
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old


@pytest.fixture(scope="session")
def trained(chain: Chain) -> Path:
    return train_run(chain, "trained", 40)


@pytest.fixture(scope="session")
def untrained(chain: Chain) -> Path:
    """One tiny step: barely better than uniform, so it must not beat the trained champion."""
    return train_run(chain, "untrained", 1, optim={"lr": 1e-5, "warmup_steps": 0})


@pytest.fixture(scope="session")
def champion(chain: Chain, trained: Path):
    """The trained run registered and gated: version 1, @candidate and @champion."""
    from lmforge.pipeline.registry import gate
    from lmforge.pipeline.registry.registry import register

    registered = register(chain.workspace, trained, flow_run={"flow_run_id": "test-flow-run"})
    result = gate.judge(chain.workspace, NAME, registered.version)
    gate.apply(NAME, result)
    return registered, result
