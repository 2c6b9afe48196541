"""Registry and gate defects found by breaking what a registration depends on: a champion whose snapshot is gone, a
candidate whose tokenizer is gone (stage folder or packaged file), a version or model deleted before its gate, a run
whose weights score NaN, a pyfunc input that is no batch of prompts, two registrations racing for @candidate, a
store MLflow refuses to open, and `lineage --verify` on edited or deleted package tags. Each test that registers
uses a model name of its own, so the `lmforge` versions the other registry tests check stay as they are; anything
moved aside is put back, since the chain is the session's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest
from mlflow import MlflowClient

from lmforge.pipeline.registry import gate
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import CHAMPION, aliases_of, register, resolve_version
from tests.support.registry import SHARDS, TOKENIZER, Chain, train_run


@contextmanager
def moved_aside(path: Path) -> Iterator[None]:
    aside = path.with_name("aside-" + path.name)  # not `<id>.aside`: a stage id prefix would still find it
    path.rename(aside)
    try:
        yield
    finally:
        aside.rename(path)


def _package_dir(name: str, version: str) -> Path:
    model_id = dict(resolve_version(f"models:/{name}/{version}").tags)["lmforge.package_model_id"]
    location = MlflowClient().get_logged_model(model_id).artifact_location
    return Path(url2pathname(urlparse(location).path))


@pytest.fixture(scope="module")
def other_tokenizer_run(chain) -> tuple[Path, Path]:
    """(run folder, tokenizer folder) of a run trained with a tokenizer other than the chain's."""
    from lmforge.pipeline.tokenize.shards import build_shards
    from lmforge.pipeline.tokenize.trainer import train_tokenizer

    tok = train_tokenizer(chain.snapshot, chain.workspace, replace(TOKENIZER, vocab_size=430))
    shards = build_shards(chain.snapshot, tok, chain.workspace, SHARDS, workers=1)
    other = Chain(chain.workspace, chain.raw, chain.snapshot, tok, shards)
    return train_run(other, "hunt15-other-tokenizer", 12), tok


def _champion_and_candidate(chain, trained, candidate_run: Path, name: str):
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    first = register(chain.workspace, trained, config)
    assert gate.apply(name, gate.judge(chain.workspace, name, first.version, config)).promoted
    second = register(chain.workspace, candidate_run, config)
    return first, second, config


def test_a_champion_whose_snapshot_is_gone_keeps_the_candidate_a_candidate(chain, trained, other_tokenizer_run):
    """With another tokenizer the gate re-encodes the champion's snapshot: with that snapshot gone, the gate died of
    NotFoundError from deep inside (a traceback from the flow), and nothing recorded why."""
    name = "hunt15-snapshot-gone"
    first, second, config = _champion_and_candidate(chain, trained, other_tokenizer_run[0], name)
    with moved_aside(chain.snapshot):
        result = gate.judge_and_apply(chain.workspace, name, second.version, config)
    assert not result.promoted and result.champion_version == first.version
    assert "snapshot" in result.reason and chain.snapshot.name in result.reason and "not promoted" in result.reason
    assert aliases_of(name, first.version) == [CHAMPION]
    tags = MlflowClient().get_model_version(name, second.version).tags
    assert tags["lmforge.gate.promoted"] == "False" and tags["lmforge.gate.reason"] == result.reason


def test_a_candidate_whose_tokenizer_folder_is_gone_is_not_promoted(chain, trained, other_tokenizer_run):
    name = "hunt15-tokenizer-gone"
    first, second, config = _champion_and_candidate(chain, trained, other_tokenizer_run[0], name)
    tokenizer = other_tokenizer_run[1]
    with moved_aside(tokenizer):
        result = gate.judge_and_apply(chain.workspace, name, second.version, config)
    assert not result.promoted and "tokenizer" in result.reason and tokenizer.name in result.reason
    assert aliases_of(name, first.version) == [CHAMPION]


def test_a_candidate_whose_packaged_tokenizer_is_gone_is_not_promoted(chain, trained, other_tokenizer_run):
    name = "hunt15-packaged-tokenizer-gone"
    first, second, config = _champion_and_candidate(chain, trained, other_tokenizer_run[0], name)
    packaged = next(_package_dir(name, second.version).rglob("tokenizer.model"))
    with moved_aside(packaged):
        result = gate.judge_and_apply(chain.workspace, name, second.version, config)
    assert not result.promoted and f"candidate v{second.version}" in result.reason
    assert aliases_of(name, first.version) == [CHAMPION]


def test_a_candidate_version_deleted_before_its_gate_is_a_clear_error(chain, trained, untrained):
    from lmforge.pipeline.errors import NotFoundError

    name = "hunt15-candidate-deleted"
    first, second, config = _champion_and_candidate(chain, trained, untrained, name)
    MlflowClient().delete_model_version(name, second.version)
    with pytest.raises(NotFoundError, match=rf"{name}.*version {second.version}"):
        gate.judge_and_apply(chain.workspace, name, second.version, config)
    assert aliases_of(name, first.version) == [CHAMPION]


def test_judging_a_model_that_does_not_exist_is_a_clear_error(chain, champion):
    from lmforge.pipeline.errors import NotFoundError

    with pytest.raises(NotFoundError, match=r"registered model 'hunt15-no-such-model' does not exist"):
        gate.judge(chain.workspace, "hunt15-no-such-model", "1")


def test_a_run_whose_weights_score_nan_is_not_registered(chain, trained):
    """Its NaN val loss was registered and took @candidate from the working candidate (whoever serves @candidate got
    a model that generates noise), though the gate never makes such a model champion."""
    from lmforge.pipeline.errors import LmforgeError
    from tests.pipeline.registry.test_gate_decisions import _nan_weights_run

    name = "hunt15-nan"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    good = register(chain.workspace, trained, config)
    run = _nan_weights_run(chain, trained)
    with pytest.raises(LmforgeError, match=r"scores val bpb nan, loss nan on its own val shards.*Nothing was"):
        register(chain.workspace, run, config)
    assert [str(v.version) for v in MlflowClient().search_model_versions(f"name = '{name}'")] == [good.version]
    assert aliases_of(name, good.version) == ["candidate"]


def test_registering_again_a_nan_version_an_older_lmforge_registered_moves_no_alias(chain, trained, monkeypatch):
    """A re-run found the version registered from the same checkpoint and, when the newest lacked @candidate (the
    first registration died before the alias moved), set @candidate on it, NaN weights and all."""
    from lmforge.pipeline.errors import LmforgeError
    from lmforge.pipeline.registry import registry
    from tests.pipeline.registry.test_gate_decisions import _nan_weights_run

    name = "hunt15-nan-legacy"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    run = _nan_weights_run(chain, trained)
    with monkeypatch.context() as m:
        m.setattr(registry, "check_finite", lambda *args: None, raising=False)  # registered before the check
        legacy = register(chain.workspace, run, config)
    MlflowClient().delete_registered_model_alias(name, "candidate")
    with pytest.raises(
        LmforgeError, match=rf"registered as {name} version {legacy.version}\) scores val bpb nan.*No alias moved"
    ):
        register(chain.workspace, run, config)
    assert aliases_of(name, legacy.version) == []


@pytest.mark.parametrize(
    ("batch", "kind"),
    [(None, "NoneType"), (7, "int"), (b"The", "bytes"), ({"The", "A"}, "set"), ({"prompt": ["a", "b"], "x": [1]}, "")],
    ids=["none", "int", "bytes", "set", "dict-unequal-columns"],
)
def test_an_input_that_is_no_batch_of_prompts_is_refused_by_name(champion, batch, kind: str) -> None:
    """None, a number or a ragged dict died of Python's TypeError/ValueError inside `predict`; bytes generated one
    continuation per byte, from its number ("97"); a set's continuations came back in an order of no prompt's."""
    import mlflow.pyfunc

    from lmforge.pipeline.errors import InputError

    model = mlflow.pyfunc.load_model(f"models:/lmforge/{champion[0].version}")
    with pytest.raises(InputError, match=rf"model input: is {kind}"):
        model.predict(batch, params={"greedy": True, "max_new_tokens": 2})


def test_a_registration_whose_alias_move_comes_last_leaves_candidate_on_the_newer_version(
    chain, trained, untrained, monkeypatch
):
    """Two runs registered at once: the one that created the older version moved @candidate last, onto it, though a
    newer version (the other run's) had just taken it."""
    import mlflow

    name = "hunt15-candidate-race"
    config = RegistryConfig(model_name=name, smoke_tokens=0)
    real = mlflow.register_model
    newer = {}

    def and_meanwhile_another(*args, **kwargs):
        version = real(*args, **kwargs)
        monkeypatch.setattr(mlflow, "register_model", real)
        newer["registered"] = register(chain.workspace, untrained, config)  # the other run, start to end
        return version

    monkeypatch.setattr(mlflow, "register_model", and_meanwhile_another)
    older = register(chain.workspace, trained, config)
    assert int(newer["registered"].version) > int(older.version)
    assert aliases_of(name, newer["registered"].version) == ["candidate"]
    assert aliases_of(name, older.version) == []


def test_a_store_mlflow_refuses_to_open_is_one_line_before_any_work(chain, trained, tmp_path, monkeypatch):
    """MLFLOW_TRACKING_URI=./mlruns: MLflow 3 refuses a file store unless told otherwise. The registry's first reads
    took its refusal for "no such model yet", so the run was packaged and evaluated first and then died with MLflow's
    traceback."""

    from lmforge.pipeline.errors import LmforgeError
    from lmforge.pipeline.registry import registry

    def no_evaluation(*args, **kwargs):
        raise AssertionError("evaluated before the store was opened")

    monkeypatch.setattr(registry, "candidate_metrics", no_evaluation)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(LmforgeError, match=r"MLflow cannot open the tracking store file:.*MLFLOW_ALLOW_FILE_STORE"):
        register(chain.workspace, trained, RegistryConfig(model_name="hunt15-file-store", smoke_tokens=0))


@pytest.mark.parametrize("value", ["not json", "[]", '{"weights": 5}'])
def test_verify_reports_an_edited_package_tag_instead_of_crashing(champion, value: str) -> None:
    """Tags can be edited in MLflow's UI: `lineage --verify`, whose job is to find tampering, died of
    JSONDecodeError (or AttributeError) on an edited `lmforge.package_sha256`."""
    from lmforge.pipeline.registry import lineage

    tags = dict(resolve_version(f"models:/lmforge/{champion[0].version}").tags)
    checked, problems = lineage.verify({**tags, "lmforge.package_sha256": value})
    assert checked > 0 and problems == [
        "tag lmforge.package_sha256: not the {artifact: sha256} JSON registered; it was edited"
    ]


@pytest.mark.parametrize("deleted", ["lmforge.package_sha256", "lmforge.package_model_id"])
def test_verify_reports_a_deleted_package_tag_instead_of_skipping_the_package(champion, deleted: str) -> None:
    """With one of the two package tags deleted, `--verify` took the version for one registered before they existed,
    skipped the package and said "OK"."""
    from lmforge.pipeline.registry import lineage

    tags = dict(resolve_version(f"models:/lmforge/{champion[0].version}").tags)
    tags.pop(deleted)
    assert lineage.verify(tags)[1] == [
        f"tag {deleted}: deleted (it is registered with every version); the package cannot be checked"
    ]
