"""Tokenizer and shard benchmark: lmforge vs plain baselines, same text, same run.

Text is real and read at run time: the built-in default corpus (`lmforge corpus default`: documentation of the
standard library and of the installed packages, plus the multilingual sample), repeated (with new doc ids) up to
`--mb` megabytes and written as a snapshot. Then, each in a fresh child process (so peak RSS is its own):

- tokenizer training on the same sample (`--train-mb`, drawn from the distinct texts, as from a deduplicated
  snapshot): lmforge (sentencepiece unigram and BPE, streamed from the snapshot) at each `--vocabs` size, beside
  HuggingFace `tokenizers` BPE trained from the same sentences;
- text → shard files: lmforge `build_shards` with all cores (and with one), vs a plain single-process loop
  (`sp.encode` per document + EOS, `numpy.tofile`) over the same snapshot with the same tokenizer.

    .venv/bin/python bench/tokenizer.py                # ~20 MB, a few minutes on 2 cores
    .venv/bin/python bench/tokenizer.py --mb 100       # the issue's >= 100 MB figure
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The issue calls this bench/tokenize.py; that name would shadow the stdlib `tokenize` (which pandas imports) for
# every bench script, since a script's folder comes first on sys.path. Load common.py by file location, with bench/
# off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_common", HERE / "common.py")
common = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(common)
machine, run_child, table, versions = common.machine, common.run_child, common.table, common.versions


def source_docs(limit_bytes: int, scratch: Path) -> list[str]:
    """Distinct real texts: the built-in default corpus (docs of the stdlib and of every installed package, plus
    the multilingual sample), built up to `limit_bytes` — ~55 MB of distinct text in the dev environment."""
    from lmforge.pipeline.corpus.default import build_default_corpus

    texts: dict[str, None] = {}
    for path in build_default_corpus(scratch, max_mb=limit_bytes / 1e6):
        with open(path, encoding="utf-8") as f:
            for line in f:
                texts.setdefault(json.loads(line)["text"], None)
    return list(texts)


def make_corpus(ws: Path, mb: float) -> tuple[Path, Path, int, int]:
    """(snapshot to encode: the distinct texts repeated with new ids up to `mb` MB, snapshot to train on: the
    distinct texts once, as a deduplicated curate snapshot would hold them, bytes, documents)."""
    from tests.support.snapshots import make_snapshot

    target = int(mb * 1e6)
    base = source_docs(target, ws / "default-corpus")
    docs, total, copy = [], 0, 0
    while total < target:
        for i, text in enumerate(base):
            docs.append({"doc_id": f"c{copy}-{i}", "text": text, "lang": "en"})  # the text's language is not used
            total += len(text.encode("utf-8"))
            if total >= target:
                break
        copy += 1
    snap = make_snapshot(ws, docs, files=4, row_group_size=2000)
    distinct = make_snapshot(ws, [{"doc_id": f"d{i}", "text": t, "lang": "en"} for i, t in enumerate(base)], files=4)
    return snap, distinct, total, len(docs)


# ---- child processes: each prints one JSON line -------------------------------------------------------------------


def child_train(snapshot: str, ws: str, vocab: int, train_mb: float, model_type: str = "unigram") -> dict:
    from lmforge.pipeline.tokenize.config import TokenizerConfig
    from lmforge.pipeline.tokenize.trainer import train_tokenizer

    t0 = time.perf_counter()
    config = TokenizerConfig(
        vocab_size=vocab, sample_chars=int(train_mb * 1e6), num_threads=os.cpu_count() or 1, model_type=model_type
    )
    out = train_tokenizer(Path(snapshot), Path(ws), config)
    return {"seconds": time.perf_counter() - t0, "path": str(out)}


def child_hf(snapshot: str, vocab: int, train_mb: float) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from lmforge.pipeline.tokenize.config import TokenizerConfig
    from lmforge.pipeline.tokenize.sampling import iter_texts, sentences, snapshot_files
    from lmforge.pipeline.tokenize.trainer import sample_for

    t0 = time.perf_counter()
    config = TokenizerConfig(vocab_size=vocab, sample_chars=int(train_mb * 1e6))
    sample = sample_for(Path(snapshot), config)
    texts = (t for _, t, _ in iter_texts(snapshot_files(Path(snapshot)), sample.train_ids))
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<pad>", "<unk>", "<s>", "</s>"])
    tok.train_from_iterator(sentences(texts, config.max_sentence_chars), trainer=trainer)
    return {"seconds": time.perf_counter() - t0, "vocab": tok.get_vocab_size()}


def child_shards(snapshot: str, tokenizer: str, ws: str, workers: int) -> dict:
    from lmforge.pipeline.tokenize.config import ShardsConfig
    from lmforge.pipeline.tokenize.shards import build_shards
    from lmforge.schemas.manifest import Manifest

    t0 = time.perf_counter()
    out = build_shards(Path(snapshot), Path(tokenizer), Path(ws), ShardsConfig(), workers=workers)
    seconds = time.perf_counter() - t0
    splits = Manifest.read(out).stats["splits"]
    # this process encodes too, beside workers - 1 pool workers: count each worker at the largest one's peak
    peak = common.self_peak_rss_mb() + (workers - 1) * common.children_peak_rss_mb()
    return {"seconds": seconds, "tokens": sum(s["tokens"] for s in splits.values()), "peak_rss_mb": peak}


def child_baseline(snapshot: str, tokenizer: str, out: str) -> dict:
    import numpy as np
    import pyarrow.parquet as pq
    import sentencepiece as spm

    t0 = time.perf_counter()
    sp = spm.SentencePieceProcessor(model_file=str(Path(tokenizer) / "tokenizer.model"))
    eos, tokens = sp.eos_id(), 0
    with open(out, "wb") as f:
        for path in sorted((Path(snapshot) / "data").glob("*.parquet")):
            reader = pq.ParquetFile(path)
            for rg in range(reader.num_row_groups):
                for text in reader.read_row_group(rg, columns=["text"]).column("text").to_pylist():
                    ids = sp.encode(text)
                    ids.append(eos)
                    np.array(ids, dtype=np.uint16).tofile(f)
                    tokens += len(ids)
    return {"seconds": time.perf_counter() - t0, "tokens": tokens}


def as_child(args: argparse.Namespace) -> None:

    fn = {"train": child_train, "hf": child_hf, "shards": child_shards, "baseline": child_baseline}[args.child]
    result = fn(*json.loads(args.child_args))
    result.setdefault("peak_rss_mb", common.self_peak_rss_mb())
    print(json.dumps(result))


def child(kind: str, *params) -> dict:
    """Run one measurement in a fresh process; a failure becomes a row saying why instead of ending the bench."""
    try:
        result = run_child(
            [__file__, "--child", kind, "--child-args", json.dumps(params)], env={"OMP_NUM_THREADS": "1"}
        )
    except SystemExit as exc:
        last = str(exc).strip().splitlines()[-1]
        print(f"  {kind} {params[2:]} failed: {last}", flush=True)
        return {"seconds": float("nan"), "peak_rss_mb": float("nan"), "tokens": 0, "path": None, "failed": last}
    print(f"  {kind} {params[2:]}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20.0, help="Text to encode, MB (default 20).")
    parser.add_argument(
        "--train-mb",
        type=float,
        default=20.0,
        help="Tokenizer training sample, MB (default 20, the default tokenizer.sample_chars; 5 MB of "
        "this text is too little for a 32k unigram vocabulary).",
    )
    parser.add_argument("--vocabs", default="8000,32000", help="Vocabulary sizes to train (default 8000,32000).")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="lmforge encode processes.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        as_child(args)
        return
    ws = Path(tempfile.mkdtemp(prefix="lmforge-bench-tokenize-"))
    try:
        t0 = time.perf_counter()
        snap, distinct, n_bytes, n_docs = make_corpus(ws, args.mb)
        print(
            f"corpus: {n_bytes / 1e6:.1f} MB, {n_docs} documents, snapshot written in {time.perf_counter() - t0:.1f} s"
        )
        rows = []
        tokenizers: dict[int, str] = {}
        for vocab in (int(v) for v in args.vocabs.split(",")):
            for model_type in ("unigram", "bpe"):
                r = child("train", str(distinct), str(ws), vocab, args.train_mb, model_type)
                if r["path"] and model_type == "unigram":
                    tokenizers[vocab] = r["path"]
                name = f"lmforge (sentencepiece {model_type})"
                rows.append([f"train vocab {vocab}", name, r["seconds"], "", "", r["peak_rss_mb"]])
            r = child("hf", str(distinct), vocab, args.train_mb)
            rows.append([f"train vocab {vocab}", "HF tokenizers BPE", r["seconds"], "", "", r["peak_rss_mb"]])
        tok = tokenizers[min(tokenizers)]
        mb = n_bytes / 1e6
        r = child("baseline", str(snap), tok, str(ws / "baseline.bin"))
        base = r["seconds"]
        rows.append(
            ["encode → shards", "plain loop (1 process)", base, mb / base, int(r["tokens"] / base), r["peak_rss_mb"]]
        )
        for workers in sorted({1, args.workers}):
            out_ws = ws / f"shards-{workers}"
            r = child("shards", str(snap), tok, str(out_ws), workers)
            name = f"lmforge ({workers} process{'es' if workers > 1 else ''})"
            rows.append(
                [
                    "encode → shards",
                    name,
                    r["seconds"],
                    mb / r["seconds"],
                    int(r["tokens"] / r["seconds"]),
                    r["peak_rss_mb"],
                ]
            )
            speedup = base / r["seconds"]
            rows[-1][1] += f", {speedup:.2f}× baseline"
            shutil.rmtree(out_ws, ignore_errors=True)
        print(f"machine: {machine()}; {versions('lmforge', 'sentencepiece', 'tokenizers', 'numpy', 'pyarrow')}")
        print(f"training sample: {args.train_mb} MB; encoding tokenizer: vocab {min(tokenizers)}")
        print(table(["step", "implementation", "seconds", "MB/s", "tokens/s", "peak RSS MB"], rows))
    finally:
        shutil.rmtree(ws, ignore_errors=True)


if __name__ == "__main__":
    main()
