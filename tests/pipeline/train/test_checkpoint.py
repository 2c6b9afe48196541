"""Checkpoints: contents, keep-last-K, atomic folders, checks on resume, and loading for inference."""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lmforge.pipeline.errors import ConfigError, IntegrityError, LmforgeError, NotFoundError
from lmforge.pipeline.train.checkpoint import list_checkpoints, load_for_inference, saving_lock
from lmforge.pipeline.train.trainer import Trainer
from tests.support.training import tiny_config, worker_env


def test_checkpoint_holds_all_state_and_keeps_the_last_k(shards_dir: Path, run_dir: Path) -> None:
    Trainer(tiny_config(max_steps=12, checkpoint={"every": 3, "keep": 3}), shards_dir, run_dir).fit()
    found = list_checkpoints(run_dir)
    assert [p.name for p in found] == ["step-00000006", "step-00000009", "step-00000012"]
    assert sorted(p.name for p in found[-1].iterdir()) == [
        "meta.json",
        "model.pt",
        "optim.pt",
        "rank-00000.pt",
        "trainer.pt",
    ]
    meta = json.loads((found[-1] / "meta.json").read_text())
    assert meta["step"] == 12 and meta["tokens_seen"] == 12 * 4 * 64 and meta["world_size"] == 1
    assert meta["shards_id"] == "shards0000000000" and meta["vocab_size"] == 300
    assert Path(meta["tokenizer_model"]).is_file()
    rank = torch.load(found[-1] / "rank-00000.pt", weights_only=False)
    assert rank["loader"]["batch"] == 12 and {"python", "numpy", "torch"} <= rank["rng"].keys()
    trainer = torch.load(found[-1] / "trainer.pt", weights_only=True)
    assert trainer["scheduler"]["last_epoch"] == 12
    assert not list(run_dir.glob("checkpoints/.tmp-*"))


def test_a_half_written_checkpoint_is_ignored(shards_dir: Path, run_dir: Path) -> None:
    Trainer(tiny_config(max_steps=5), shards_dir, run_dir).fit()
    partial = run_dir / "checkpoints" / ".tmp-step-00000010"  # what a kill during a save leaves
    partial.mkdir()
    (partial / "model.pt").write_bytes(b"cut")
    assert [p.name for p in list_checkpoints(run_dir)] == ["step-00000005"]
    trainer = Trainer(tiny_config(max_steps=5), shards_dir, run_dir)
    assert trainer.resumed_from == 5


def test_other_shards_or_world_size_are_clear_errors(shards_dir: Path, run_dir: Path) -> None:
    Trainer(tiny_config(max_steps=5), shards_dir, run_dir).fit()
    meta_path = list_checkpoints(run_dir)[-1] / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "world_size": 2}))
    with pytest.raises(LmforgeError, match="2 process"):
        Trainer(tiny_config(max_steps=5), shards_dir, run_dir)
    meta_path.write_text(json.dumps({**meta, "shards_id": "other"}))
    with pytest.raises(LmforgeError, match="trained on shards other"):
        Trainer(tiny_config(max_steps=5), shards_dir, run_dir)


@pytest.mark.parametrize("name", ["model.pt", "optim.pt", "trainer.pt", "rank-00000.pt", "meta.json"])
def test_a_damaged_checkpoint_file_is_a_clear_error(shards_dir: Path, run_dir: Path, name: str) -> None:
    config = tiny_config(max_steps=5)
    Trainer(config, shards_dir, run_dir).fit()
    path = list_checkpoints(run_dir)[-1] / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a disk full or a bad copy
    with pytest.raises(IntegrityError, match=name.replace(".", r"\.")):
        Trainer(config, shards_dir, run_dir)
    if name in ("model.pt", "meta.json"):
        with pytest.raises(IntegrityError, match=name.replace(".", r"\.")):
            load_for_inference(run_dir)


@pytest.mark.parametrize("name", ["model.pt", "optim.pt"])
def test_weights_of_another_model_are_a_clear_error(shards_dir: Path, run_dir: Path, name: str) -> None:
    """A checkpoint file copied over from a run of another size was a raw RuntimeError/ValueError from torch."""
    config = tiny_config(max_steps=5)
    Trainer(config, shards_dir, run_dir).fit()
    other = run_dir.with_name(run_dir.name + "-other")
    Trainer(tiny_config(max_steps=5, model={"gpt": {"n_layer": 1}}), shards_dir, other).fit()
    shutil.copyfile(list_checkpoints(other)[-1] / name, list_checkpoints(run_dir)[-1] / name)
    with pytest.raises(IntegrityError, match=rf"{name.replace('.', '[.]')}: damaged checkpoint file \(sha256"):
        Trainer(config, shards_dir, run_dir)
    meta_path = list_checkpoints(run_dir)[-1] / "meta.json"  # as written before meta.json recorded sha256s
    meta_path.write_text(json.dumps({k: v for k, v in json.loads(meta_path.read_text()).items() if k != "files"}))
    with pytest.raises(IntegrityError, match=rf"{name.replace('.', '[.]')}: .*another model"):
        Trainer(config, shards_dir, run_dir)
    if name == "model.pt":
        with pytest.raises(IntegrityError, match=r"model[.]pt: .*another model"):
            load_for_inference(run_dir)


@pytest.mark.parametrize("meta", ["[1, 2]", "{}", '{"config": {}}'])
def test_a_meta_json_without_its_fields_is_a_clear_error(shards_dir: Path, run_dir: Path, meta: str) -> None:
    config = tiny_config(max_steps=5)
    Trainer(config, shards_dir, run_dir).fit()
    (list_checkpoints(run_dir)[-1] / "meta.json").write_text(meta, encoding="utf-8")
    with pytest.raises(IntegrityError, match=r"meta[.]json"):
        Trainer(config, shards_dir, run_dir)
    with pytest.raises(IntegrityError, match=r"meta[.]json"):
        load_for_inference(run_dir)


@pytest.mark.parametrize("device", ["gpu", "cuda:7"] + ([] if torch.cuda.is_available() else ["cuda"]))
def test_an_unusable_device_is_a_config_error(shards_dir: Path, run_dir: Path, device: str) -> None:
    # `lmforge generate/evaluate --device gpu`, or cuda on a machine without it, failed inside torch
    Trainer(tiny_config(max_steps=1), shards_dir, run_dir).fit()
    with pytest.raises(ConfigError, match=f"device: '{device}'"):
        load_for_inference(run_dir, device=device)


def _available(kind: str) -> bool:
    try:
        torch.empty(0, device=kind)
    except (RuntimeError, AssertionError):
        return False
    return True


@pytest.mark.parametrize("device", ["meta", *(d for d in ("mps", "xpu") if not _available(d))])
def test_a_device_kind_this_machine_lacks_is_a_config_error(shards_dir: Path, run_dir: Path, device: str) -> None:
    """`--device mps` on Linux (or xpu on a build without it) passed the check, which knew only CUDA: torch then
    raised a RuntimeError (an AssertionError for xpu) as the model moved, a traceback; `meta` loaded a model without
    values, which failed at the first token."""
    Trainer(tiny_config(max_steps=1), shards_dir, run_dir).fit()
    with pytest.raises(ConfigError, match=f"device: '{device}'"):
        load_for_inference(run_dir, device=device)


def test_load_for_inference(shards_dir: Path, run_dir: Path) -> None:
    trainer = Trainer(tiny_config(max_steps=5, model={"kind": "lstm"}), shards_dir, run_dir)
    trainer.fit()
    for where in (run_dir, list_checkpoints(run_dir)[-1], list_checkpoints(run_dir)[-1] / "model.pt"):
        model, config, tokenizer = load_for_inference(where)
        assert not model.training and config.model.kind == "lstm" and tokenizer.name == "tokenizer.model"
        assert tokenizer.is_file()
    x = torch.randint(0, 300, (2, 16))
    trainer.model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], trainer.model(x)[0])
    with pytest.raises(NotFoundError):
        load_for_inference(run_dir / "nope")


def test_a_moved_workspace_finds_its_tokenizer_from_a_relative_run_path(
    shards_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """The tokenizer path a checkpoint records is absolute; once the workspace moved, it is looked up under the
    workspace that holds the checkpoint, found by counting the checkpoint path's parents. `lmforge generate r` run in
    <ws>/runs gave too few of them, and the tokenizer right there was reported missing."""
    import shutil

    ws = tmp_path / "ws"
    for part in ("tokenizers", "shards"):
        shutil.copytree(shards_dir.parent.parent / part, ws / part)
    Trainer(tiny_config(max_steps=1), ws / "shards" / shards_dir.name, ws / "runs" / "r").fit()
    moved = tmp_path / "moved"
    ws.rename(moved)
    monkeypatch.chdir(moved / "runs")
    _, _, tokenizer = load_for_inference(Path("r"))
    assert tokenizer.is_file() and tokenizer.resolve().is_relative_to(moved / "tokenizers")


@pytest.mark.parametrize("name", ["model.pt", "optim.pt", "trainer.pt", "rank-00000.pt"])
def test_a_checkpoint_file_with_flipped_bytes_is_a_clear_error(shards_dir: Path, run_dir: Path, name: str) -> None:
    """Same size, bytes changed (bit rot, a bad copy): torch.load does not check the zip CRCs and would hand back
    garbage weights; the sha256 in meta.json must catch it."""
    config = tiny_config(max_steps=5)
    Trainer(config, shards_dir, run_dir).fit()
    path = list_checkpoints(run_dir)[-1] / name
    data = bytearray(path.read_bytes())
    middle = len(data) * 3 // 4  # inside the tensor data
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=re.escape(name) + r": damaged checkpoint file \(sha256"):
        Trainer(config, shards_dir, run_dir)
    if name == "model.pt":
        with pytest.raises(IntegrityError, match=r"model\.pt: damaged checkpoint file \(sha256"):
            load_for_inference(run_dir)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_checkpoint_that_cannot_be_written_is_a_clear_error(shards_dir: Path, run_dir: Path) -> None:
    """A full disk (here: a file size limit, which fails writes the same way) while saving: one clear error naming
    the file and the OS reason, no half-written folder left taking space, and the run resumable."""
    config = tiny_config(max_steps=5)
    trainer = Trainer(config, shards_dir, run_dir)
    old_limit, old_handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, old_limit[1]))
    try:
        with pytest.raises(LmforgeError, match=r"model\.pt: could not write the checkpoint \(.*File too large"):
            trainer.fit()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == [".saving.lock"]  # an empty file
    assert Trainer(config, shards_dir, run_dir).fit().step == 5


KILLED_MID_SAVE = """
import resource, signal, sys
from pathlib import Path
from lmforge.pipeline.train.trainer import Trainer
from tests.support.training import tiny_config

trainer = Trainer(tiny_config(max_steps=5), Path(sys.argv[1]), Path(sys.argv[2]))
# model.pt (~0.5 MB) outgrows the limit: the kernel kills the process by SIGXFSZ inside the write, as torchrun's
# SIGTERM or the OOM killer would, so no Python clean-up runs
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
trainer.fit()
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_save_killed_midway_leaves_no_tmp_folder_once_the_run_starts_again(shards_dir: Path, run_dir: Path):
    """A kill inside a save left `.tmp-step-00000005` (half a model.pt) until step 5 was saved again, and for good
    when the run resumed past it from an older checkpoint or was never resumed."""
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", KILLED_MID_SAVE, str(shards_dir), str(run_dir)],
        cwd=root,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == -signal.SIGXFSZ, done.stderr[-2000:]
    left = run_dir / "checkpoints" / ".tmp-step-00000005"
    assert (left / "rank-00000.pt").is_file() and not list_checkpoints(run_dir)
    trainer = Trainer(tiny_config(max_steps=5), shards_dir, run_dir)
    assert not left.exists() and trainer.resumed_from is None
    assert trainer.fit().step == 5


def test_a_save_in_progress_keeps_its_tmp_folder(shards_dir: Path, run_dir: Path) -> None:
    """A run starting while another process saves into the same run folder must not pull its folder away."""
    checkpoints = run_dir / "checkpoints"
    with saving_lock(checkpoints) as had:  # held as a live writer holds it (flock: per open file, so in-process too)
        assert had
        writing = checkpoints / ".tmp-step-00000005"
        writing.mkdir()
        (writing / "rank-00000.pt").write_bytes(b"being written")
        Trainer(tiny_config(max_steps=5), shards_dir, run_dir)
        assert (writing / "rank-00000.pt").read_bytes() == b"being written"


def test_a_checkpoint_deletion_cut_short_leaves_nothing_behind(shards_dir: Path, run_dir: Path) -> None:
    """Pruning deleted old checkpoints in place; a kill inside that rmtree left `step-…` folders without their
    meta.json, which nothing listed, pruned or reported again: disk lost for good."""
    config = tiny_config(max_steps=12, checkpoint={"every": 5, "keep": 2})
    Trainer(config, shards_dir, run_dir).fit(until=11)  # checkpoints at 5 and 10
    cut = run_dir / "checkpoints" / "step-00000003"  # what a kill mid-rmtree of an old checkpoint left
    cut.mkdir()
    (cut / "optim.pt").write_bytes(b"the rest of an old checkpoint")
    discarding = run_dir / "checkpoints" / ".tmp-discard-step-00000001"  # the same kill, with discard()
    discarding.mkdir()
    trainer = Trainer(config, shards_dir, run_dir)
    assert trainer.resumed_from == 10 and not cut.exists() and not discarding.exists()
    trainer.fit()
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == [".saving.lock", "step-00000010", "step-00000012"]
