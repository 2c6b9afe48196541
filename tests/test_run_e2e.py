"""`lmforge run` end to end through real Prefect (ephemeral), sentencepiece, torchrun and MLflow — and the privacy
acceptance test: canaries planted in the input appear nowhere the run wrote (snapshot, rejects, manifests,
Prefect's database and results, MLflow's database and artifacts, tokenizer, decoded shards, checkpoints, output).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.canaries import CANARIES, find_canaries
from tests.support.curate import read_docs, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny-run.toml"
FILTER_DATA = ROOT / "tests" / "data" / "curate" / "filters"
PROSE = ("en_prose.txt", "de_prose.txt", "zh_prose.txt", "en_docs.txt", "ja_prose.txt")

pytestmark = pytest.mark.slow


def planted_corpus(folder: Path) -> list[Path]:
    """Real prose documents, each carrying a few canary sentences, plus the ordinary test documents."""
    docs = read_docs()
    texts = [d["text"] for d in docs[:8]] + [(FILTER_DATA / p).read_text(encoding="utf-8") for p in PROSE]
    planted = []
    for i, canary in enumerate(CANARIES):
        base = texts[i % len(texts)]
        sep = "\n" if canary.lang == "code" else " "
        planted.append(
            {
                "id": f"planted-{i}",
                "text": base + sep + canary.sentence + sep + texts[(i + 3) % len(texts)],
                "source": f"planted-{canary.lang}",
            }
        )
    return [write_jsonl(folder / "clean.jsonl", docs), write_jsonl(folder / "planted.jsonl", planted)]


def lmforge(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update({"LMFORGE_JSON": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    return subprocess.run(
        [sys.executable, "-m", "lmforge.flows", "run", "--workspace", str(workspace), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )


def shard_text(tokenizer_for_shards):
    def decode(path: Path):
        from lmforge.schemas.shards import open_tokens

        sp = tokenizer_for_shards(path)
        tokens = open_tokens(path)
        yield sp.decode([int(t) for t in tokens])

    return decode


def test_run_chain_is_resumable_and_leaks_no_canary(tmp_path):
    ws = tmp_path / "ws"
    inputs = planted_corpus(tmp_path / "in")
    config = tmp_path / "tiny.toml"  # the tiny run, with a vocabulary that fits this ~70 kB corpus
    config.write_text(TINY.read_text(encoding="utf-8").replace("vocab_size = 2000", "vocab_size = 700"))
    args = ["--config", str(config)]
    for p in inputs:
        args += ["--input", str(p)]

    first = lmforge(ws, *args, "--stages", "curate,tokenizer")
    assert first.returncode == 0, first.stderr[-3000:]
    full = lmforge(ws, *args)
    assert full.returncode == 0, full.stderr[-3000:]
    result = json.loads(full.stdout.strip().splitlines()[-1])
    log = full.stdout + full.stderr
    assert "already existed, skipped" in log  # the curate stage of the first call is reused
    # the model beats a unigram model on held-out text, and it is registered as champion
    assert result["eval"]["model"]["ppl"] < result["eval"]["unigram"]["ppl"]
    assert "val ppl" in full.stdout and "unigram baseline ppl" in full.stdout
    assert "champion" in result["model"]["aliases"]

    again = lmforge(ws, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    out = again.stdout + again.stderr
    assert "run " in out and "already finished, skipped" in out
    assert "already registered" in out  # the same checkpoint is not registered twice
    assert json.loads(again.stdout.strip().splitlines()[-1])["model"]["version"] == result["model"]["version"]

    # privacy acceptance: nothing downstream holds a canary or its digits-only form
    from lmforge.pipeline.tokenize.trainer import load_tokenizer
    from lmforge.schemas.manifest import Manifest

    def tokenizer_for(shard: Path):
        tok = Manifest.read(shard.parent).inputs["tokenizer"]
        return load_tokenizer(ws / "tokenizers" / tok)

    assert (ws / ".prefect").is_dir()  # Prefect's database, logs and results live in the workspace
    searched = [p for p in ws.iterdir() if p.name != "corpus"]
    hits = find_canaries(searched, decoders={".bin": shard_text(tokenizer_for)})
    assert hits == []
    for proc in (first, full, again):
        for canary in CANARIES:
            assert canary.needle not in proc.stdout + proc.stderr
    # the snapshot did see the planted documents (they were redacted, not dropped wholesale)
    snap = Manifest.read(next(p for p in (ws / "snapshots").iterdir() if not p.name.startswith(".")))
    assert sum(snap.stats["pii"].values()) >= len(CANARIES)
    assert {"EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SECRET"} <= snap.stats["pii"].keys()
