"""The promotion gate's decisions as a user finds them in the MLflow UI, and two gates racing for @champion: real
registrations (curate, sentencepiece, torch, MLflow on SQLite) of runs trained here, each under its own model name:
the session's runs and `lmforge` model are left as the other tests expect them (a registration reopens its training
run, where the gate logs its metrics)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from lmforge.pipeline.digest import sha256_file
from lmforge.pipeline.registry import gate
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.pyfunc import checkpoint_of
from lmforge.pipeline.registry.registry import CHAMPION, register
from tests.support.registry import train_run


@pytest.fixture(scope="module")
def trained(chain) -> Path:
    return train_run(chain, "gate-trained", 40)


@pytest.fixture(scope="module")
def untrained(chain) -> Path:
    return train_run(chain, "gate-untrained", 1, optim={"lr": 1e-5, "warmup_steps": 0})


def _register(chain, run_dir, name: str):
    config = RegistryConfig(model_name=name)
    return register(chain.workspace, run_dir, config), config


def _gate_tags(name: str, version: str) -> dict[str, str]:
    tags = MlflowClient().get_model_version(name, version).tags
    return {k.removeprefix("lmforge.gate."): v for k, v in tags.items() if k.startswith("lmforge.gate.")}


def test_a_new_verdict_replaces_every_tag_of_the_old_one_and_the_description_says_it(chain, trained, untrained):
    """Judged again after the champion was deleted, v2 kept the old verdict's champion_version and champion_bpb
    beside promoted=True: the UI showed a promoted model worse than the champion it was "compared" with. The
    reason said "the first version" of a model with two, and the version's description stayed empty."""
    name = "gate-tags"
    first, config = _register(chain, trained, name)
    gate.apply(name, gate.judge(chain.workspace, name, first.version, config))
    second, _ = _register(chain, untrained, name)
    gate.apply(name, gate.judge(chain.workspace, name, second.version, config))
    client = MlflowClient()
    assert _gate_tags(name, second.version)["champion_version"] == first.version
    assert "stays candidate" in client.get_model_version(name, second.version).description

    client.delete_model_version(name, first.version)
    result = gate.judge(chain.workspace, name, second.version, config)
    gate.apply(name, result)

    assert result.promoted and "first version" not in result.reason and "@champion" in result.reason
    tags = _gate_tags(name, second.version)
    assert tags["promoted"] == "True" and tags["reason"] == result.reason
    assert not {"champion_version", "champion_bpb", "candidate_bpb", "val_shards"} & set(tags)
    assert client.get_model_version(name, second.version).description == result.line()
    assert client.get_registered_model(name).aliases[CHAMPION] == int(second.version)


def test_a_gate_judged_against_a_champion_that_has_since_moved_does_not_promote(chain, trained, untrained):
    """Two candidates judged at once against the same champion both passed; whichever `apply` ran last took
    @champion, though the other had just beaten it by more."""
    name = "gate-race"
    base, config = _register(chain, untrained, name)
    gate.apply(name, gate.judge(chain.workspace, name, base.version, config))
    shorter = train_run(chain, "gate-race-shorter", 12)
    a, _ = _register(chain, trained, name)
    b, _ = _register(chain, shorter, name)
    judged = {r.version: gate.judge(chain.workspace, name, r.version, config) for r in (a, b)}
    assert all(r.promoted and r.champion_version == base.version for r in judged.values())
    better, worse = sorted(judged.values(), key=lambda r: r.candidate_bpb)

    gate.apply(name, better)
    applied = gate.apply(name, worse)  # judged against the old champion, applied after `better` moved it

    client = MlflowClient()
    assert client.get_registered_model(name).aliases[CHAMPION] == int(better.candidate_version)
    assert not applied.promoted and f"v{better.candidate_version}" in applied.reason
    assert _gate_tags(name, worse.candidate_version)["promoted"] == "False"
    # Judged again, against the champion as it is now: the worse one still does not take it.
    final = gate.judge_and_apply(chain.workspace, name, worse.candidate_version, config)
    assert final.champion_version == better.candidate_version and not final.promoted
    assert client.get_registered_model(name).aliases[CHAMPION] == int(better.candidate_version)


def _nan_weights_run(chain, trained) -> Path:
    """A copy of the trained run whose final checkpoint holds NaN weights (recorded sha256 updated): a model that
    loads and generates but scores NaN, as one whose training diverged on its last steps would."""
    run_dir = chain.workspace / "runs" / "gate-nan-weights"
    if not run_dir.exists():
        shutil.copytree(trained, run_dir)
        checkpoint = checkpoint_of(run_dir)
        state = torch.load(checkpoint / "model.pt")
        torch.save(
            {k: v.fill_(math.nan) if v.is_floating_point() else v for k, v in state.items()}, checkpoint / "model.pt"
        )
        meta = json.loads((checkpoint / "meta.json").read_text(encoding="utf-8"))
        meta["files"]["model.pt"] = sha256_file(checkpoint / "model.pt")
        (checkpoint / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return run_dir


def test_a_model_that_scores_nan_is_not_made_champion_and_a_nan_champion_is_replaced(chain, trained, monkeypatch):
    """The first version became champion without a look at its val bpb, NaN included; and against a NaN champion
    every margin was NaN, so no candidate could ever replace it. Registration now refuses such a model
    (test_hunt15); the gate still has to judge one registered before that check, as here."""
    from lmforge.pipeline.registry import registry

    name = "gate-nan"
    with monkeypatch.context() as m:
        m.setattr(registry, "check_finite", lambda *args: None)
        broken, config = _register(chain, _nan_weights_run(chain, trained), name)
    assert math.isnan(broken.metrics["val_bpb"])
    result = gate.apply(name, gate.judge(chain.workspace, name, broken.version, config))
    assert not result.promoted and "nan" in result.reason
    assert CHAMPION not in (MlflowClient().get_registered_model(name).aliases or {})

    MlflowClient().set_registered_model_alias(name, CHAMPION, broken.version)  # as the gate before this fix did
    good, _ = _register(chain, trained, name)
    result = gate.apply(name, gate.judge(chain.workspace, name, good.version, config))
    assert result.promoted and math.isnan(result.champion_bpb) and "nan" in result.reason
    assert MlflowClient().get_registered_model(name).aliases[CHAMPION] == int(good.version)


def test_a_candidate_whose_mlflow_run_was_deleted_still_takes_champion(chain, trained, untrained):
    """The gate logs its numbers on the version's run. That run deleted in the UI (the version stays) refused the
    write, and `apply` stopped after the version's tags said "promoted" and before @champion moved to it, at every
    gate of that version."""
    name = "gate-deleted-run"
    base, config = _register(chain, untrained, name)
    gate.apply(name, gate.judge(chain.workspace, name, base.version, config))
    better, _ = _register(chain, trained, name)
    client = MlflowClient()
    client.delete_run(better.run_id)
    try:
        result = gate.judge_and_apply(chain.workspace, name, better.version, config)
    finally:
        client.restore_run(better.run_id)  # the training run of the module's other registrations
    assert result.promoted and _gate_tags(name, better.version)["promoted"] == "True"
    assert client.get_registered_model(name).aliases[CHAMPION] == int(better.version)
