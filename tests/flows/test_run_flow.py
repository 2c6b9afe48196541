"""`lmforge run`'s stage handling under a real (temporary) Prefect API: a stage left out of `stages` never runs, its
output is taken from the workspace (the one the inputs and config name), and nothing is built that no stage reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.flows.run import run_flow
from lmforge.pipeline.errors import NotFoundError
from lmforge.schemas.manifest import Manifest
from tests.support.curate import read_docs, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny-run.toml"
PROSE = ROOT / "tests" / "data" / "curate" / "filters"
SMALL = {"tokenizer": {"vocab_size": 700, "num_threads": 1}, "train": {"max_steps": 2}}


def _prose(*names: str) -> list[dict]:
    return [{"id": p, "text": (PROSE / p).read_text(encoding="utf-8")} for p in names]


@pytest.fixture(scope="module")
def curated(prefect_harness, tmp_path_factory):
    """A workspace with two snapshots of different documents: of input `a`, then (the latest) of input `b`."""
    folder = tmp_path_factory.mktemp("in")
    a = write_jsonl(folder / "a.jsonl", read_docs() + _prose("de_prose.txt", "zh_prose.txt"))
    b = write_jsonl(folder / "b.jsonl", _prose("en_prose.txt", "en_docs.txt", "ja_prose.txt"))
    ws = folder / "ws"
    kw = {"workspace": str(ws), "config_path": str(TINY), "overrides": SMALL}
    snap_a = run_flow(inputs=[str(a)], stages=["curate"], **kw)["snapshot"]
    snap_b = run_flow(inputs=[str(b)], stages=["curate"], **kw)["snapshot"]
    assert snap_a != snap_b
    return ws, kw, (a, snap_a), (b, snap_b)


def test_stages_without_curate_build_no_default_corpus(prefect_harness, tmp_path):
    ws = tmp_path / "ws"
    with pytest.raises(NotFoundError, match="no finished snapshots"):
        run_flow(workspace=str(ws), stages=["tokenizer"], corpus_mb=0.05)
    assert not (ws / "corpus").exists()  # no stage would have read it


def test_an_unknown_stage_is_an_error_before_any_work(prefect_harness, tmp_path):
    """A deployment's run takes `stages` from whoever triggers it, not through the CLI's check: `trian` was
    silently no stage, so the run curated, stopped there and completed as if it had trained."""
    from lmforge.pipeline.errors import ConfigError

    data = write_jsonl(tmp_path / "in.jsonl", read_docs())
    with pytest.raises(ConfigError, match=r"stages: unknown stage\(s\) \['trian'\]; choose from"):
        run_flow(workspace=str(tmp_path / "ws"), inputs=[str(data)], stages=["curate", "trian"])
    assert not (tmp_path / "ws" / "snapshots").exists()


def test_an_empty_stage_list_is_an_error_not_every_stage(prefect_harness, tmp_path):
    """`stages=[]` (a deployment triggered with an empty list, or a caller's filter that left nothing) ran the whole
    chain, the default corpus and training included, as if no list had been given."""
    from lmforge.pipeline.errors import ConfigError

    data = write_jsonl(tmp_path / "in.jsonl", read_docs())
    with pytest.raises(ConfigError, match=r"stages: no stage given; choose from"):
        run_flow(workspace=str(tmp_path / "ws"), inputs=[str(data)], stages=[])
    assert not (tmp_path / "ws" / "snapshots").exists()


def test_input_names_the_snapshot_when_curate_is_left_out(curated):
    ws, kw, (a, snap_a), _ = curated
    out = run_flow(inputs=[str(a)], stages=["tokenizer"], **kw)
    assert out["snapshot"] == snap_a  # the snapshot of --input, not the latest one (b's)
    assert Manifest.read(ws / "tokenizers" / out["tokenizer"]).inputs["snapshot"] == snap_a


def test_a_stage_left_out_is_taken_from_the_workspace_never_run(curated):
    ws, kw, (a, snap_a), _ = curated
    with pytest.raises(NotFoundError, match="--stages"):
        run_flow(inputs=[str(a)], stages=["evaluate"], **kw)
    assert not (ws / "runs").exists()  # `evaluate` alone must not train a model
    with pytest.raises(NotFoundError, match="--stages"):
        run_flow(inputs=[str(a)], stages=["train"], **kw)
    assert not (ws / "shards").exists()  # nor `train` alone encode shards

    built = run_flow(inputs=[str(a)], stages=["tokenizer", "shards"], **kw)
    again = run_flow(inputs=[str(a)], stages=["shards", "shards", "tokenizer"], **kw)  # order and repeats: no matter
    assert again == built and built["snapshot"] == snap_a and set(built) >= {"tokenizer", "shards"}


def test_register_alone_does_not_run_the_evaluate_stage(prefect_harness, tmp_path, monkeypatch):
    """`stages=["register"]` ran the evaluate stage too (a full pass over the val split and a unigram baseline) that
    nothing read: registration evaluates the packaged model itself, and a stage left out is never run."""
    import lmforge.flows.register
    import lmforge.flows.run
    from lmforge.pipeline.config import load_config
    from lmforge.pipeline.train.launch import plan_run

    data = write_jsonl(tmp_path / "in.jsonl", read_docs() + _prose("en_prose.txt", "en_docs.txt", "de_prose.txt"))
    kw = {"workspace": str(tmp_path / "ws"), "inputs": [str(data)], "config_path": str(TINY), "overrides": SMALL}
    built = run_flow(stages=["curate", "tokenizer", "shards"], **kw)
    run = plan_run(kw["workspace"], built["shards"], load_config(TINY, SMALL).train)
    run.run_dir.mkdir(parents=True)
    (run.run_dir / "manifest.json").write_text("{}", encoding="utf-8")  # stands for a finished run: only its path
    registered = []

    def not_evaluated(*args):
        raise AssertionError("the evaluate stage ran")

    monkeypatch.setattr(lmforge.flows.run, "evaluate_task", not_evaluated)
    monkeypatch.setattr(
        lmforge.flows.register,
        "register_flow",
        lambda **k: registered.append(k) or {"model_name": "m", "version": "1", "aliases": []},
    )
    out = run_flow(stages=["register"], **kw)
    assert "eval" not in out
    assert [r["run_dir"] for r in registered] == [str(run.run_dir)] and out["model"]["version"] == "1"


def test_another_corpus_size_builds_the_default_corpus_again(tmp_path):
    from lmforge.flows.run import default_corpus_task

    def size() -> int:
        return sum(p.stat().st_size for p in (tmp_path / "corpus").glob("*.jsonl"))

    default_corpus_task.fn(str(tmp_path), 0.05)
    small = size()
    default_corpus_task.fn(str(tmp_path), 0.2)  # was silently the 0.05 MB corpus again
    assert size() > small
    mtimes = [p.stat().st_mtime_ns for p in sorted((tmp_path / "corpus").glob("*.jsonl"))]
    default_corpus_task.fn(str(tmp_path), 0.2)  # the same cap: built once
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "corpus").glob("*.jsonl"))] == mtimes
