"""`lineage.verify` over the whole chain of a registered version: model package → run → shards → tokenizer →
snapshot → raw inputs. Every tampered or missing file is reported; a workspace moved elsewhere is not."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lmforge.pipeline.registry import lineage
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import register, resolve_version, use_tracking
from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept
from tests.pipeline.registry.conftest import NAME
from tests.support.registry import build_chain, tracking, train_run


@contextmanager
def tampered(path: Path, new: bytes | None = None) -> Iterator[None]:
    """Flip the last byte of `path` (or write `new`, or remove it when `new` is b""); restore it afterwards."""
    original = path.read_bytes()
    try:
        if new == b"":
            path.unlink()
        else:
            path.write_bytes(new if new is not None else original[:-1] + bytes([original[-1] ^ 0xFF]))
        yield
    finally:
        path.write_bytes(original)


@pytest.fixture
def tags(champion) -> dict[str, str]:
    return dict(resolve_version(f"models:/{NAME}/{champion[0].version}").tags)


def _problems(tags: dict[str, str], workspace: Path | None = None) -> list[str]:
    return (lineage.verify(tags, workspace) if workspace else lineage.verify(tags))[1]


def test_intact_chain_verifies(tags) -> None:
    assert _problems(tags) == []


@pytest.mark.parametrize("name", ["meta.json", "optim.pt", "trainer.pt"])
def test_tampered_checkpoint_state_is_reported(tags, name: str) -> None:
    """The weights alone were checked: the checkpoint's config (meta.json) or optimizer state could change
    unnoticed."""
    path = Path(tags["lmforge.checkpoint"]) / name
    with tampered(path):
        assert any(str(path) in p for p in _problems(tags))


@pytest.mark.parametrize("name", ["run.json", "metrics.jsonl"])
def test_tampered_run_record_is_reported(tags, name: str) -> None:
    path = Path(tags["lmforge.run_dir"]) / name
    with tampered(path):
        assert any(str(path) in p for p in _problems(tags))


def test_a_file_rewritten_together_with_its_manifest_entry_is_reported(chain, tags) -> None:
    """Replacing a shard and writing its new sha256 into the manifest passed: the manifest itself was trusted."""
    shard, manifest = chain.shards / "val-00000.bin", chain.shards / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    forged = shard.read_bytes()[:-1] + b"\x00"
    for entry in data["files"]:
        if entry["path"] == shard.name:
            entry["sha256"] = hashlib.sha256(forged).hexdigest()
    with tampered(shard, forged), tampered(manifest, json.dumps(data).encode()):
        assert lineage.verify_files(chain.shards) == []  # consistent with itself
        assert any("manifest" in p and str(chain.shards) in p for p in _problems(tags))


def _edited(data: dict, key: str, value) -> dict:
    """`data` with the dotted `key` (`inputs.units`, `files.0.path`) set to `value`."""
    data = json.loads(json.dumps(data))
    *path, last = key.split(".")
    node = data
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return data


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("inputs", []),
        ("inputs.units", "corpus.jsonl"),
        ("inputs.units", [1]),
        ("inputs.cwd", 5),
        ("params.curate", "x"),
        ("params.curate.text_extensions", ".txt"),
        ("files.0.path", 5),
        ("files.0.sha256", 5),
    ],
)
def test_a_snapshot_manifest_edited_out_of_shape_is_reported_not_a_crash(chain, tags, key: str, value) -> None:
    """`verify` is there to find edits, and died of AttributeError or TypeError on a manifest whose JSON was edited
    into another shape (raw inputs no list of records, a number for a path), printing a traceback instead."""
    manifest = chain.snapshot / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    with tampered(manifest, json.dumps(_edited(data, key, value)).encode()):
        problems = _problems(tags)
    assert any(str(chain.snapshot.resolve()) in p or chain.snapshot.name in p for p in problems), problems


def _package_file(version, name: str) -> Path:
    from urllib.parse import urlparse

    from mlflow import MlflowClient

    location = MlflowClient().get_logged_model(version.source.removeprefix("models:/")).artifact_location
    return Path(urlparse(location).path) / "artifacts" / name


@pytest.mark.parametrize(("name", "new"), [("model.pt", None), ("tokenizer.model", None), ("model.pt", b"")])
def test_tampered_or_missing_model_package_is_reported(champion, tags, name: str, new: bytes | None) -> None:
    """What `mlflow.pyfunc.load_model` serves is the package in MLflow's artifact store, not the checkpoint."""
    path = _package_file(resolve_version(f"models:/{NAME}/{champion[0].version}"), name)
    with tampered(path, new):
        assert any(name in p for p in _problems(tags))


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("python_model.pkl", "flip"),  # unpickled on load: code that runs
        ("MLmodel", "loader"),  # the module pyfunc imports to load the model
        ("requirements.txt", "append"),  # what a serving environment installs
        ("conda.yaml", "append"),
        ("python_env.yaml", "append"),
        ("requirements.txt", "remove"),
        ("code/extra.py", "add"),
    ],
)
def test_every_file_of_the_model_package_is_pinned(champion, tags, name: str, edit: str) -> None:
    """Only the weights, model.json and tokenizer of the package were re-hashed: python_model.pkl (unpickled, that
    is run, on load), the MLmodel's loader_module or the requirements could be changed and `--verify` said OK."""
    root = _package_file(resolve_version(f"models:/{NAME}/{champion[0].version}"), "model.pt").parents[1]
    path = root / name
    assert tags[lineage.PACKAGE_FILES_TAG] and (edit == "add") != path.is_file()
    if edit == "add":
        path.parent.mkdir()
        path.write_text("import os\n", encoding="utf-8")
        try:
            problems = _problems(tags)
        finally:
            shutil.rmtree(path.parent)
        assert problems == [f"{path}: package file added since registration (not in tag {lineage.PACKAGE_FILES_TAG})"]
        return
    text = path.read_bytes()
    new = {
        "flip": None,
        "loader": text.replace(b"loader_module: mlflow.pyfunc.model", b"loader_module: evil.loader"),
        "append": text + b"\nevil-package==1.0\n",
        "remove": b"",
    }[edit]
    assert new != text
    with tampered(path, new):
        problems = _problems(tags)
    what = "package file missing" if edit == "remove" else "sha256 differs from the package file registered"
    assert len(problems) == 1 and problems[0].startswith(f"{path}: {what}"), problems


def test_a_version_registered_before_the_package_files_were_recorded_is_a_note(champion, tags) -> None:
    """Versions registered before lmforge recorded every package file verify as before, and say what they skip."""
    notes: list[str] = []
    older = {k: v for k, v in tags.items() if k != lineage.PACKAGE_FILES_TAG}
    assert lineage.verify(older, notes=notes)[1] == []
    assert any("MLmodel, python_model.pkl and environment files are not checked" in n for n in notes), notes
    notes.clear()
    oldest = {k: v for k, v in older.items() if k not in ("lmforge.package_sha256", "lmforge.package_model_id")}
    assert lineage.verify(oldest, notes=notes)[1] == []
    assert any(n.startswith("model package: not re-hashed") for n in notes), notes


@pytest.mark.parametrize("value", ["not json", "{}", '{"MLmodel": 5}', '{"../../etc/passwd": "00"}'])
def test_an_edited_package_files_tag_is_reported(champion, tags, value: str) -> None:
    problems = _problems({**tags, lineage.PACKAGE_FILES_TAG: value})
    assert (
        len(problems) == 1 and problems[0].startswith(f"tag {lineage.PACKAGE_FILES_TAG}: ") and "edited" in problems[0]
    )


@pytest.mark.parametrize("edit", ["flavors: [\n", "\n", "- 1\n", "no pyfunc flavor", "artifacts no map"])
def test_a_damaged_mlmodel_is_reported_not_a_crash(champion, tags, edit: str) -> None:
    """The package's MLmodel says where pyfunc finds each artifact; edited out of its shape (not YAML, empty, its
    pyfunc flavor renamed), `verify` died of a YAML, Key or TypeError instead of reporting it."""
    mlmodel = _package_file(resolve_version(f"models:/{NAME}/{champion[0].version}"), "model.pt").parents[1] / "MLmodel"
    text = mlmodel.read_text(encoding="utf-8")
    new = {
        "no pyfunc flavor": text.replace("python_function:", "another_flavor:"),
        "artifacts no map": text.replace("    artifacts:\n", "    artifacts: x\n    was_artifacts:\n"),
    }.get(edit, edit)
    assert new != text
    with tampered(mlmodel, new.encode()):
        problems = _problems(tags)
    assert any(f"{mlmodel}: damaged" in p for p in problems), problems


def test_latin1_named_raw_file_is_not_a_false_alarm(tmp_path: Path) -> None:
    """A file whose name is not UTF-8 becomes a `bad_name` unit recorded under an escaped name (`caf\\xe9.txt`);
    verify took that display name for a path and reported the file missing."""
    from lmforge.pipeline.curate.inputs import plan_inputs, unit_digest

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ok.txt").write_text("some text", encoding="utf-8")
    bad = Path(os.fsdecode(os.fsencode(raw) + b"/caf\xe9.txt"))
    bad.write_text("more text", encoding="utf-8")
    units = [
        {"kind": u.kind, "path": u.path, "source": u.source, "sha256": unit_digest(u)}
        for u in plan_inputs([str(raw)], [".txt"])
    ]
    assert sorted(u["kind"] for u in units) == ["bad_name", "textdir"]
    assert [lineage.verify_raw(u, [".txt"]) for u in units] == [None, None]
    bad.unlink()
    shown = next(u["path"] for u in units if u["kind"] == "bad_name")
    assert [p for u in units if (p := lineage.verify_raw(u, [".txt"]))] == [f"{shown}: raw input missing"]


@contextmanager
def store(workspace: Path) -> Iterator[None]:
    """MLflow pointed at `workspace`'s own store for the duration (training and registering inside it use that store
    too); as it was before (the session's store) afterwards."""
    with mlflow_uris_kept(), tracking(workspace):
        use_tracking(workspace)
        yield


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A workspace registered at one place, then moved (`mv ws elsewhere`), with its SQLite MLflow store."""
    root = tmp_path_factory.mktemp("moved")
    chain = build_chain(root)
    with store(chain.workspace):
        run = train_run(chain, "moved", 5)
        register(chain.workspace, run, RegistryConfig(smoke_tokens=0, eval_max_batches=1))
    new = root / "elsewhere" / "ws"
    new.parent.mkdir()
    shutil.move(chain.workspace, new)
    with store(new):
        return new, dict(resolve_version(f"models:/{NAME}@candidate").tags)


def test_a_moved_workspace_verifies_where_it_is_now(moved) -> None:
    new, tags = moved
    assert not Path(tags["lmforge.shards_dir"]).exists()  # the recorded paths are gone
    with store(new):
        assert _problems(tags, new) == []
        shard = next((new / "shards").glob("*/val-00000.bin"))
        with tampered(shard):
            assert any(str(shard) in p for p in _problems(tags, new))
        assert _problems(tags)  # without the new place, the recorded paths are (rightly) missing


def test_a_moved_workspace_still_loads_and_runs_its_model(moved) -> None:
    """The SQLite store records the package's absolute path; `generate models:/…` and the gate load it from where the
    workspace is now."""
    new, _ = moved
    from lmforge.flows.commands.generate import from_mlflow
    from lmforge.pipeline.registry.registry import load_pyfunc

    with store(new):
        loaded = load_pyfunc(f"models:/{NAME}@candidate", new)
        direct = loaded.predict(["The"], params={"max_new_tokens": 4, "greedy": True})
        via_cli = from_mlflow(f"models:/{NAME}@candidate", "The", new, {"max_new_tokens": 4, "greedy": True})
        assert len(direct) == 1 and direct[0] == via_cli != ""


def test_raw_inputs_inside_a_moved_workspace_are_found_there(tmp_path) -> None:
    """`make run` writes the default corpus under the workspace; after a move its raw files are there too."""
    from lmforge.pipeline.curate.inputs import InputUnit, unit_digest
    from lmforge.pipeline.registry.lineage import raw_unit_now, verify_raw

    old, new = tmp_path / "old" / "ws", tmp_path / "new" / "ws"
    (new / "corpus").mkdir(parents=True)
    (new / "corpus" / "a.jsonl").write_text('{"text": "x"}\n')
    sha = unit_digest(InputUnit("jsonl", str(new / "corpus" / "a.jsonl"), "a"))
    unit = {"kind": "jsonl", "path": "ws/corpus/a.jsonl", "source": "a", "sha256": sha}
    tags = {"lmforge.workspace": str(old)}
    cwd = str(old.parent)  # curation ran in the workspace's parent, with a relative path
    assert verify_raw(unit, [".txt"], cwd) is not None  # at the recorded place it is gone
    assert verify_raw(raw_unit_now(unit, cwd, tags, new), [".txt"], cwd) is None
    assert raw_unit_now(unit, cwd, tags, None) is unit
    elsewhere = {**unit, "path": str(tmp_path / "elsewhere.jsonl")}  # outside the workspace: not moved with it
    assert raw_unit_now(elsewhere, cwd, tags, new) is elsewhere


def test_registering_in_a_moved_workspace_writes_nothing_at_its_old_place(tmp_path) -> None:
    """The reopened training run and the new model package landed under the old path, which `mv` had emptied."""
    chain = build_chain(tmp_path / "a")
    with store(chain.workspace):
        train_run(chain, "moved", 3)
    old = chain.workspace
    new = tmp_path / "b" / "ws"
    new.parent.mkdir()
    shutil.move(old, new)
    with store(new):
        registered = register(new, new / "runs" / "moved", RegistryConfig(smoke_tokens=0, eval_max_batches=1))
        tags = dict(resolve_version(f"models:/{NAME}/{registered.version}").tags)
        assert _problems(tags, new) == []
    assert not old.exists()
    assert (new / "mlartifacts" / registered.run_id / "artifacts" / "lineage.json").is_file()


def test_registering_after_a_move_records_and_verifies_the_raw_inputs_that_moved_with_it(tmp_path) -> None:
    """`make run` keeps the raw corpus in `<ws>/corpus`. Registered after `mv ws elsewhere`, lineage.json and the
    raw-input tag named the corpus at the old place, and `--verify` called it missing: the registration's workspace
    (what a move is measured from) is the new place, and the snapshot manifest holds the curation's paths."""
    chain = build_chain(tmp_path / "a", raw_in_workspace=True)
    with store(chain.workspace):
        train_run(chain, "moved", 3)
    new = tmp_path / "b" / "ws"
    new.parent.mkdir()
    shutil.move(chain.workspace, new)
    corpus = new.resolve() / "corpus" / "corpus.jsonl"
    with store(new):
        registered = register(new, new / "runs" / "moved", RegistryConfig(smoke_tokens=0, eval_max_batches=1))
        tags = dict(resolve_version(f"models:/{NAME}/{registered.version}").tags)
        assert _problems(tags, new) == [] and _problems(tags) == []
        assert [u["path"] for u in json.loads(tags["lmforge.raw_inputs"])] == [str(corpus)]
        artifact = new / "mlartifacts" / registered.run_id / "artifacts" / "lineage.json"
        assert [u["path"] for u in json.loads(artifact.read_text(encoding="utf-8"))["raw_inputs"]] == [str(corpus)]
        with tampered(corpus):
            assert [p for p in _problems(tags, new) if "raw input" in p] == [
                f"{corpus}: raw input digest differs from the snapshot manifest "
                f"({json.loads(tags['lmforge.raw_inputs'])[0]['sha256'][:12]}…)"
            ]
        moved_again = tmp_path / "c" / "ws"  # and moved once more after registration: found there too
        moved_again.parent.mkdir()
        shutil.move(new, moved_again)
    with store(moved_again):
        assert _problems(tags, moved_again) == []


@pytest.mark.parametrize("value", ['{"a": 1}', "[1]", '[{"path": "a"}]', '[{"path": "a", "sha256": 5}]', '"a"'])
def test_lineage_says_an_edited_raw_inputs_tag_was_edited(value: str) -> None:
    """Tags can be edited in MLflow's UI: `lmforge lineage` died of a TypeError (or KeyError) on a raw-inputs tag
    edited into other JSON, before it printed any of the chain."""
    from types import SimpleNamespace

    from lmforge.flows.commands.lineage import chain_lines

    version = SimpleNamespace(version="3", run_id="r", tags={"lmforge.raw_inputs": value, "lmforge.run": "r"})
    lines = chain_lines(NAME, version, ["candidate"])
    assert lines[0].startswith(f"model     models:/{NAME}/3") and "it was edited" in lines[-1]
    intact = [{"path": "/data/a.jsonl", "sha256": "0123456789abcdef" * 4}]
    version.tags["lmforge.raw_inputs"] = json.dumps(intact)
    assert chain_lines(NAME, version, [])[-1] == "  0123456789abcdef  /data/a.jsonl"
