"""Near-duplicate benchmark: lmforge dedup vs plain datasketch (MinHash.bulk + MinHashLSH), same data, same run.

Originals are real text read at run time: docstrings of the installed Python stdlib and site-packages (50-600
words each), plus Chinese documents recombined from clauses of bench/data/dedup/zh.txt. Originals that already
resemble each other (Jaccard >= 0.3) are dropped first, so the only true duplicates are the planted variants:
exact copies, format-only changes, 1/3/5/10 % word (or character) edits, block reordering, boilerplate
header/footer, truncation to 90/70/50 %, and combinations. Ground truth pairs are (original, variant) with their
true Jaccard on lmforge's shingles. A predicted pair is any two documents in one predicted cluster; it is correct
when both come from the same original.

    .venv/bin/python bench/dedup.py                 # ~2k English + 300 Chinese originals, a minute or two
    .venv/bin/python bench/dedup.py --originals 20000 --zh 3000

Memory at scale (find_duplicates alone on millions of documents) is bench/dedup_scale.py.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import sys
import sysconfig
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

if not sys.flags.safe_path:  # bench/ holds scripts named like stdlib modules (tokenize.py): never shadow them
    os.execv(sys.executable, [sys.executable, "-P", *sys.argv])
sys.path.append(str(Path(__file__).resolve().parent))
from common import children_peak_rss_mb, machine, run_child, self_peak_rss_mb, table, versions  # noqa: E402

ZH_TEXT = Path(__file__).resolve().parent / "data" / "dedup" / "zh.txt"
HEADER = {
    "en": "Copyright notice: this page is part of the community archive. All rights reserved by the authors.",
    "zh": "版权声明：本文来自社区档案库，转载请注明出处，作者保留所有权利。",
}
FOOTER = {
    "en": "Subscribe to our newsletter for weekly updates, and share this page with your friends and colleagues.",
    "zh": "欢迎订阅我们的每周通讯，并把这篇文章分享给你的朋友和同事。",
}
VARIANTS = [
    "exact",
    "format",
    "edit1",
    "edit3",
    "edit5",
    "edit10",
    "reorder",
    "boilerplate",
    "trunc90",
    "trunc70",
    "trunc50",
    "edit3+boilerplate",
    "trunc90+edit1",
    "format+reorder",
]


def english_originals(limit: int, rng: random.Random) -> list[str]:
    """Docstrings of 50-600 words from the stdlib and site-packages, in a stable order, sampled to `limit`."""
    roots = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]})
    seen, docs = set(), []
    for root in roots:
        for path in sorted(Path(root).rglob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    doc = ast.get_docstring(node)
                    if doc and 50 <= len(doc.split()) <= 600 and doc not in seen:
                        seen.add(doc)
                        docs.append(doc)
            if len(docs) >= limit * 3:
                break
        if len(docs) >= limit * 3:
            break
    rng.shuffle(docs)
    return docs[:limit]


def chinese_originals(limit: int, rng: random.Random) -> list[str]:
    """Documents of 12-30 clauses drawn from the hand-written paragraphs (clauses split at ，and 。)."""
    clauses = [
        c
        for line in ZH_TEXT.read_text(encoding="utf-8").splitlines()
        for c in line.replace("。", "，").split("，")
        if c
    ]
    return ["，".join(rng.sample(clauses, rng.randint(12, 30))) + "。" for _ in range(limit)]


def variant(text: str, kind: str, lang: str, rng: random.Random, vocab: list[str]) -> str:
    for step in kind.split("+"):
        text = _apply(text, step, lang, rng, vocab)
    return text


def _apply(text: str, kind: str, lang: str, rng: random.Random, vocab: list[str]) -> str:
    units = list(text) if lang == "zh" else text.split()
    join = "".join if lang == "zh" else " ".join
    if kind == "exact":
        return text
    if kind == "format":
        if lang == "zh":
            return text.replace("，", ", ").replace("。", "。\n\n")
        return "  ".join(w.upper() if i % 7 == 0 else w + ("," if i % 11 == 5 else "") for i, w in enumerate(units))
    if kind.startswith("edit"):
        k = max(1, round(len(units) * int(kind[4:]) / 100))
        for i in rng.sample(range(len(units)), k):
            units[i] = rng.choice(vocab)
        return join(units)
    if kind == "reorder":
        q = len(units) // 4
        blocks = [units[:q], units[q : 2 * q], units[2 * q : 3 * q], units[3 * q :]]
        return "\n\n".join(join(b) for b in (blocks[2], blocks[0], blocks[3], blocks[1]))
    if kind == "boilerplate":
        return f"{HEADER[lang]}\n\n{text}\n\n{FOOTER[lang]}"
    if kind.startswith("trunc"):
        return join(units[: round(len(units) * int(kind[5:]) / 100)])
    raise ValueError(kind)


def shingle_set(text: str, lang: str) -> np.ndarray:
    from lmforge.pipeline.dedup.config import DedupConfig
    from lmforge.pipeline.dedup.shingles import normalize, shingle_hashes64, units

    config, by_char = DedupConfig(), lang in ("zh", "ja")
    return np.unique(
        shingle_hashes64(units(normalize(text), by_char), config.char_ngram if by_char else config.word_ngram)
    )


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def write_parts(folder: Path, docs: list[dict], rows: int) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lmforge.schemas.snapshot import SNAPSHOT_SCHEMA

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(0, len(docs), rows):
        chunk = docs[k : k + rows]
        data = {
            "doc_id": [d["doc_id"] for d in chunk],
            "text": [d["text"] for d in chunk],
            "source": ["bench"] * len(chunk),
            "url": [None] * len(chunk),
            "created_at": [None] * len(chunk),
            "lang": [d["lang"] for d in chunk],
            "lang_score": [1.0] * len(chunk),
            "n_chars": [len(d["text"]) for d in chunk],
            "content_hash": ["0" * 32] * len(chunk),
        }
        paths.append(folder / f"part-{k // rows:05d}.parquet")
        pq.write_table(pa.Table.from_pydict(data, schema=SNAPSHOT_SCHEMA), paths[-1])
    return paths


def drop_similar_originals(folder: Path, docs: list[dict]) -> list[dict]:
    """Remove originals with Jaccard >= 0.3 to an earlier one (found with lmforge at a low threshold, verified by
    true Jaccard), so every duplicate in the benchmark is a planted one."""
    from lmforge.pipeline.dedup.config import DedupConfig
    from lmforge.pipeline.dedup.find import find_duplicates
    from lmforge.pipeline.dedup.signatures import compute_signatures

    config = DedupConfig(threshold=0.5, margin=0.2, recall_target=0.999)
    parts = write_parts(folder / "originals", docs, 5000)
    sigs = [compute_signatures(p, config, folder / "originals-sigs") for p in parts]
    removed = find_duplicates(parts, sigs, config, folder, None).removed
    return [d for d in docs if d["doc_id"] not in removed]


def build(folder: Path, n_en: int, n_zh: int, seed: int, part_rows: int) -> tuple[list[Path], list[dict]]:
    rng = random.Random(seed)
    originals = [{"doc_id": f"en{i:06d}", "text": t, "lang": "en"} for i, t in enumerate(english_originals(n_en, rng))]
    originals += [{"doc_id": f"zh{i:06d}", "text": t, "lang": "zh"} for i, t in enumerate(chinese_originals(n_zh, rng))]
    originals = drop_similar_originals(folder, originals)
    vocab = {
        lang: sorted(
            {u for d in originals if d["lang"] == lang for u in (d["text"] if lang == "zh" else d["text"].split())}
        )
        for lang in ("en", "zh")
    }
    docs, truth = list(originals), []
    for i, orig in enumerate(originals):
        if i % 2:  # half of the originals are left alone: distractors
            continue
        for kind in rng.sample(VARIANTS, 2):
            text = variant(orig["text"], kind, orig["lang"], rng, vocab[orig["lang"]])
            vid = f"{orig['doc_id']}~{kind}"
            docs.append({"doc_id": vid, "text": text, "lang": orig["lang"]})
            j = jaccard(shingle_set(orig["text"], orig["lang"]), shingle_set(text, orig["lang"]))
            truth.append({"a": orig["doc_id"], "b": vid, "kind": kind, "lang": orig["lang"], "jaccard": j})
    rng.shuffle(docs)
    return write_parts(folder / "parts", docs, part_rows), truth


# --- children: each measures its own work time and peak RSS -------------------------------------------------------


def child_lmforge(folder: Path, workers: int) -> dict:
    """What the curate flow does: signatures per part in parallel tasks (processes, like `--task-runner dask`;
    one worker = in this process), then one find_duplicates over all parts."""
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from lmforge.pipeline.dedup.config import DedupConfig
    from lmforge.pipeline.dedup.find import find_duplicates
    from lmforge.pipeline.dedup.signatures import compute_signatures

    parts = sorted((folder / "parts").glob("part-*.parquet"))
    out = folder / f"lmforge-sigs-{workers}"
    config = DedupConfig()
    sign = partial(compute_signatures, config=config, out_dir=out)
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    if pool:  # start the workers (imports) before the clock, as a running Dask cluster would be
        list(pool.map(abs, range(workers)))
    t0 = time.perf_counter()
    sigs = list(pool.map(sign, parts) if pool else map(sign, parts))
    result = find_duplicates(parts, sigs, config, folder / "lmforge-work", None)
    seconds = time.perf_counter() - t0
    if pool:
        pool.shutdown()
    edges = list(
        zip(
            result.duplicates.column("doc_id").to_pylist(),
            result.duplicates.column("duplicate_of").to_pylist(),
            strict=True,
        )
    )
    return {"seconds": seconds, "edges": edges}


def child_datasketch(folder: Path) -> dict:
    import pyarrow.parquet as pq
    from datasketch import MinHash, MinHashLSH

    parts = sorted((folder / "parts").glob("part-*.parquet"))
    t0 = time.perf_counter()
    ids, sets = [], []
    for p in parts:
        t = pq.read_table(p, columns=["doc_id", "text"])
        for doc_id, text in zip(t.column("doc_id").to_pylist(), t.column("text").to_pylist(), strict=True):
            words = text.lower().split()
            grams = [" ".join(words[i : i + 5]) for i in range(len(words) - 4)] or [" ".join(words)]
            ids.append(doc_id)
            sets.append([g.encode("utf-8") for g in grams])
    mhs = MinHash.bulk(sets, num_perm=128)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    edges = []
    for doc_id, m in zip(ids, mhs, strict=True):
        edges += [(doc_id, other) for other in lsh.query(m)]
        lsh.insert(doc_id, m)
    return {"seconds": time.perf_counter() - t0, "edges": edges}


# --- scoring ---------------------------------------------------------------------------------------------------------


def clusters(edges: list[list[str]]) -> dict[str, str]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def score(edges: list[list[str]], truth: list[dict]) -> dict[str, float]:
    label = clusters(edges)
    members: dict[str, list[str]] = defaultdict(list)
    for doc, root in label.items():
        members[root].append(doc)
    total = correct = 0
    for docs in members.values():
        total += len(docs) * (len(docs) - 1) // 2
        fam = Counter(d.split("~")[0] for d in docs)
        correct += sum(m * (m - 1) // 2 for m in fam.values())
    precision = correct / total if total else 1.0

    def recall(rows: list[dict]) -> float:
        hit = sum(1 for t in rows if t["a"] in label and label.get(t["a"]) == label.get(t["b"]))
        return hit / len(rows) if rows else float("nan")

    overall = recall(truth)
    return {
        "precision": precision,
        "recall": overall,
        "f1": 2 * precision * overall / (precision + overall) if precision + overall else 0.0,
        "recall_ge_0.8": recall([t for t in truth if t["jaccard"] >= 0.8]),
        "recall_0.7_0.8": recall([t for t in truth if 0.7 <= t["jaccard"] < 0.8]),
        "recall_lt_0.7": recall([t for t in truth if t["jaccard"] < 0.7]),
        "recall_zh": recall([t for t in truth if t["lang"] == "zh"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--originals", type=int, default=2000, help="English originals (docstrings)")
    ap.add_argument("--zh", type=int, default=300, help="Chinese originals")
    ap.add_argument("--part-rows", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="signature workers (processes)")
    ap.add_argument(
        "--scale", type=int, help="only find_duplicates over this many synthetic signatures: memory at scale"
    )
    ap.add_argument("--child", choices=["lmforge", "datasketch", "scale"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        out = child_lmforge(args.dir, args.workers) if args.child == "lmforge" else child_datasketch(args.dir)
        (args.dir / f"{args.child}-{args.workers}-edges.json").write_text(json.dumps(out.pop("edges")))
        print(json.dumps({**out, "self_rss_mb": self_peak_rss_mb(), "children_rss_mb": children_peak_rss_mb()}))
        return
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        folder = Path(tmp)
        parts, truth = build(folder, args.originals, args.zh, args.seed, args.part_rows)
        n_docs = (
            sum(1 for _ in parts)
            and __import__("pyarrow.parquet").parquet.ParquetDataset(parts).read(columns=["doc_id"]).num_rows
        )
        rows, labels = [], {}
        contenders = [("lmforge", 1), ("datasketch", 1)]
        if args.workers > 1:
            contenders.insert(1, ("lmforge", args.workers))
        for name, workers in contenders:
            res = run_child([__file__, "--child", name, "--dir", str(folder), "--workers", str(workers)])
            edges = json.loads((folder / f"{name}-{workers}-edges.json").read_text())
            label = name if name == "datasketch" else f"{name} ({workers} proc)"
            labels[label] = clusters(edges)
            q = score(edges, truth)
            rows.append(
                [
                    label,
                    q["precision"],
                    q["recall"],
                    f"{q['f1']:.3f}",
                    q["recall_ge_0.8"],
                    q["recall_0.7_0.8"],
                    q["recall_lt_0.7"],
                    q["recall_zh"],
                    n_docs / res["seconds"],
                    res["self_rss_mb"] + (workers if workers > 1 else 0) * res["children_rss_mb"],
                ]
            )
    bins = Counter("ge0.8" if t["jaccard"] >= 0.8 else "0.7-0.8" if t["jaccard"] >= 0.7 else "lt0.7" for t in truth)
    print(f"dedup bench: {n_docs} docs, {len(truth)} planted pairs ({dict(bins)}); {machine()}")
    print(versions("datasketch", "numpy", "pyarrow"))
    print(
        table(
            [
                "method",
                "precision",
                "recall",
                "F1",
                "R(J>=0.8)",
                "R(0.7-0.8)",
                "R(J<0.7)",
                "R(zh)",
                "docs/s",
                "peak MB",
            ],
            rows,
        )
    )
    for row in rows[:-1]:
        print(f"speed-up {row[0]} / datasketch: {row[8] / rows[-1][8]:.2f}x")
    print("peak MB: the process's own high-water RSS, plus workers x the largest worker's")
    print()
    print(table(["variant", "pairs", "mean J", "min J", *(f"R {name}" for name in labels)], per_kind(truth, labels)))


def per_kind(truth: list[dict], labels: dict[str, dict[str, str]]) -> list[list]:
    out = []
    for kind in VARIANTS:
        rows = [t for t in truth if t["kind"] == kind]
        if not rows:
            continue
        js = [t["jaccard"] for t in rows]
        hits = [
            sum(1 for t in rows if t["a"] in lab and lab.get(t["a"]) == lab.get(t["b"])) / len(rows)
            for lab in labels.values()
        ]
        out.append([kind, len(rows), float(np.mean(js)), float(np.min(js)), *hits])
    return out


if __name__ == "__main__":
    main()
