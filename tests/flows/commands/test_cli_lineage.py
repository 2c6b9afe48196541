"""`lmforge lineage` of a model whose workspace was moved between curation and registration names the folder it was
curated in (the version tag `lmforge.curated_workspace`): the chain printed only the registration's paths."""

from __future__ import annotations

import shutil
from pathlib import Path

from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.lineage import CURATED_TAG
from lmforge.pipeline.registry.registry import register, resolve_version, use_tracking
from lmforge.pipeline.tracking.mlflow_run import mlflow_uris_kept
from tests.flows.commands.test_train_command import lmforge
from tests.support.registry import build_chain, tracking, train_run


def test_lineage_names_the_workspace_the_snapshot_was_curated_in(tmp_path: Path) -> None:
    chain = build_chain(tmp_path / "a", raw_in_workspace=True)  # the raw corpus inside the workspace, as `make run`
    train_run(chain, "moved", 3)
    curated_in, new = chain.workspace.resolve(), tmp_path / "b" / "ws"
    new.parent.mkdir()
    shutil.move(chain.workspace, new)
    with mlflow_uris_kept(), tracking(new):  # what `use_tracking` points at ends here: later tests use their own
        use_tracking(new)
        registered = register(new, new / "runs" / "moved", RegistryConfig(smoke_tokens=0, eval_max_batches=1))
        assert resolve_version(f"models:/lmforge/{registered.version}").tags[CURATED_TAG] == str(curated_in)
    proc = lmforge("lineage", f"models:/lmforge/{registered.version}", "--workspace", str(new), env={})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"  curated in workspace {curated_in}, moved to {new.resolve()} before registration" in proc.stdout


def test_verify_prints_a_note_for_a_raw_input_whose_path_was_redacted(tmp_path: Path) -> None:
    """The raw corpus lies in a folder named after an address, which the snapshot manifest records redacted: verify
    cannot re-hash it from there, says so on a NOTE line, and the chain still verifies (exit 0)."""
    chain = build_chain(tmp_path / "jane.lineage15@example.org")
    run = train_run(chain, "noted", 3)
    with tracking(chain.workspace):
        registered = register(chain.workspace, run, RegistryConfig(smoke_tokens=0, eval_max_batches=1))
    ref = f"models:/lmforge/{registered.version}"
    proc = lmforge("lineage", ref, "--verify", "--workspace", str(chain.workspace), env={})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    notes = [line for line in proc.stdout.splitlines() if line.startswith("NOTE ")]
    assert len(notes) == 1 and "redacted" in notes[0] and "jane.lineage15" not in notes[0], proc.stdout
    assert "MISMATCH" not in proc.stdout and "verify: OK" in proc.stdout
