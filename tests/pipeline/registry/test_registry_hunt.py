"""Defects found by using registration, the gate and lineage as an ML engineer does: a finished run whose final
checkpoint is gone, a champion whose package is gone, a version whose eval tags are gone, a raw source named after
a person, and `--verify` after a move naming the places where things are missing now. Each test that adds versions
uses a model name of its own, so the `lmforge` versions the other registry tests check stay as they are."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from lmforge.pipeline.registry import gate
from lmforge.pipeline.registry import lineage as L
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.pyfunc import checkpoint_of
from lmforge.pipeline.registry.registry import RunNotFinishedError, aliases_of, register, resolve_version


def _versions(name: str) -> list[str]:
    from mlflow import MlflowClient

    return sorted(str(v.version) for v in MlflowClient().search_model_versions(f"name = '{name}'"))


def test_a_finished_run_whose_final_checkpoint_is_gone_is_refused(chain, trained) -> None:
    """A damaged final checkpoint's error advises deleting it to fall back to the one before; the run still says
    "finished", and its earlier, half-trained checkpoint was registered (and promoted) as the run's model."""
    run = chain.workspace / "runs" / "final-checkpoint-gone"
    shutil.copytree(trained, run)
    try:
        info = json.loads((run / "run.json").read_text(encoding="utf-8"))
        info.pop("mlflow_run_id", None)
        info["step"] = int(info["step"]) * 2  # finished at a later step, whose checkpoint is not there
        (run / "run.json").write_text(json.dumps(info), encoding="utf-8")
        name = "lmforge-hunt-fallback"
        with pytest.raises(RunNotFinishedError, match=r"finished at step \d+, but its newest checkpoint is step-"):
            register(chain.workspace, run, RegistryConfig(model_name=name, smoke_tokens=0))
        assert _versions(name) == []
    finally:
        shutil.rmtree(run)


def test_a_champion_whose_package_is_gone_is_not_replaced_and_the_gate_says_why(chain, trained, untrained) -> None:
    """The gate loaded the champion's package and crashed with MLflow's "No such artifact: ''" (a traceback, in
    `lmforge register` too); it now keeps the candidate a candidate and names the model and what to do."""
    from mlflow import MlflowClient

    name = "lmforge-hunt-gone"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    first = register(chain.workspace, trained, config)
    gate.apply(name, gate.judge(chain.workspace, name, first.version, config))
    second = register(chain.workspace, untrained, config)
    model_id = dict(resolve_version(f"models:/{name}/{first.version}").tags)["lmforge.package_model_id"]
    location = MlflowClient().get_logged_model(model_id).artifact_location
    package = Path(url2pathname(urlparse(location).path))
    aside = package.with_name(package.name + ".aside")
    package.rename(aside)
    try:
        result = gate.judge(chain.workspace, name, second.version, config)
    finally:
        aside.rename(package)
    assert not result.promoted
    assert f"champion v{first.version}'s model package (models:/{name}/{first.version}) cannot be loaded" in (
        result.reason
    )
    gate.apply(name, result)
    assert "champion" in aliases_of(name, first.version)
    assert "champion" not in aliases_of(name, second.version)


def test_registering_again_after_the_eval_tags_were_deleted_gives_the_metrics(chain, trained) -> None:
    """Re-registering a checkpoint already registered read its metrics from the version's `lmforge.eval.*` tags
    only: with those gone (deleted in the UI) it returned no metrics, and `lmforge register` died of KeyError
    'val_bpb'. The metrics come from the run (or a new evaluation) and the tags are written back."""
    from mlflow import MlflowClient

    name = "lmforge-hunt-tags"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    first = register(chain.workspace, trained, config)
    client = MlflowClient()
    for key in [k for k in client.get_model_version(name, first.version).tags if k.startswith("lmforge.eval.")]:
        client.delete_model_version_tag(name, first.version, key)
    again = register(chain.workspace, trained, config)
    assert again.version == first.version and _versions(name) == [first.version]
    assert again.metrics["val_bpb"] == pytest.approx(first.metrics["val_bpb"], rel=1e-5)
    tags = client.get_model_version(name, first.version).tags
    assert float(tags["lmforge.eval.val_bpb"]) == pytest.approx(first.metrics["val_bpb"], rel=1e-5)


def test_a_source_named_after_a_person_does_not_reach_lineage_json(chain, trained, monkeypatch) -> None:
    """`--input jane.doe@example.org=data.jsonl`: the snapshot manifest keeps the source name as given, and
    lineage.json (an MLflow artifact) copied it; it now holds the placeholder form curation writes."""
    real = L._stage

    def with_person_source(workspace, kind, id_):
        stage = real(workspace, kind, id_)
        if kind != "snapshots" or stage.manifest is None:
            return stage
        units = [{**u, "source": "jane.doe.canary@example.org"} for u in stage.manifest.inputs.get("units", [])]
        manifest = dataclasses.replace(stage.manifest, inputs={**stage.manifest.inputs, "units": units})
        return dataclasses.replace(stage, manifest=manifest)

    monkeypatch.setattr(L, "_stage", with_person_source)
    lineage = L.collect(trained, checkpoint_of(trained), chain.workspace)
    text = json.dumps(lineage.to_dict())
    assert lineage.raw_inputs and "jane.doe" not in text and "example.org" not in text
    assert all(u["source"].startswith("<EMAIL>~") for u in lineage.raw_inputs)


def test_verify_after_a_move_names_what_is_missing_where_it_is_now(tmp_path) -> None:
    """A snapshot or raw input missing from a moved workspace was reported at the workspace's old place."""
    old, new = tmp_path / "old" / "ws", tmp_path / "new" / "ws"
    new.mkdir(parents=True)
    tags = {
        "lmforge.workspace": str(old),
        "lmforge.snapshot": "fc2186b1936e6a2c",
        "lmforge.snapshot_dir": str(old / "snapshots" / "fc2186b1936e6a2c"),
    }
    folder = L._stage_folder(tags, "snapshot", "snapshots", new)
    assert folder == new.resolve() / "snapshots" / "fc2186b1936e6a2c"
    _, problems, _ = L._verify_folder("snapshot", folder, tags, "snapshot")
    assert str(new.resolve()) in problems[0]
    unit = {"kind": "jsonl", "path": str(old / "corpus" / "stdlib.jsonl"), "source": "stdlib", "sha256": "0" * 64}
    moved = L.raw_unit_now(unit, None, tags, new)
    assert L.verify_raw(moved, [".txt"]) == f"{new.resolve() / 'corpus' / 'stdlib.jsonl'}: raw input missing"


def test_a_model_name_another_project_registered_is_refused_and_left_as_it_was(chain, trained, tmp_path) -> None:
    """On a shared MLflow server `lmforge` (or registry.model_name) may be another project's model: lmforge added
    its version next to theirs and moved their @candidate to it, and the gate judged it against their champion (it
    said the champion's "val shards are gone"). Nothing is registered; the message says whose versions are there."""
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    from lmforge.pipeline.errors import ConfigError

    class Other(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[str], params=None) -> list[str]:
            return model_input

    name = "lmforge-hunt-foreign"
    # an experiment of their own with its artifacts under tmp_path: the default experiment's are at ./mlruns (cwd)
    theirs_exp = MlflowClient().create_experiment("another-project", artifact_location=(tmp_path / "theirs").as_uri())
    with mlflow.start_run(run_name="another-project", experiment_id=theirs_exp):
        info = mlflow.pyfunc.log_model(name="other", python_model=Other())
    theirs = mlflow.register_model(info.model_uri, name, tags={"team": "search"})
    client = MlflowClient()
    client.set_registered_model_alias(name, "candidate", theirs.version)
    client.set_registered_model_alias(name, "champion", theirs.version)
    with pytest.raises(ConfigError, match=rf"registry.model_name: {name!r} .*another project.*v{theirs.version}"):
        register(chain.workspace, trained, RegistryConfig(model_name=name, smoke_tokens=0))
    assert _versions(name) == [str(theirs.version)]
    assert aliases_of(name, theirs.version) == ["candidate", "champion"]
