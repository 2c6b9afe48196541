"""Privacy filter benchmark: lmforge vs Presidio's pattern recognisers, same labelled data, same run.

The evaluation set is generated with a fixed seed: paragraphs of real prose (docstrings of the installed Python's
standard library) with planted PII of every type in EN/DE/ZH/code sentences, and planted hard negatives (dates,
versions, ISBNs, order numbers, hashes, UUIDs, private IPs, coordinates, placeholders). Prints one table:
per-type precision/recall/F1 (exact and overlapping spans), share of gold PII characters covered, hard-negative hit
rate, and MB/s per core on the eval set and on plain prose.

    .venv/bin/python bench/privacy.py [--docs 2000] [--seed 7] [--mb 2] [--write bench/data/privacy/sample.jsonl]
"""

from __future__ import annotations

import os
import sys

# bench/ holds scripts named like stdlib modules (tokenize.py): drop it from the path before anything imports them.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import ast  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, os.path.join(_HERE, "data", "privacy"))

from generate import build_eval  # noqa: E402

from lmforge.pipeline.privacy import scan  # noqa: E402

STRUCTURED = ("EMAIL", "PHONE", "IPV4", "IPV6", "CREDIT_CARD", "IBAN", "US_SSN", "CN_ID", "SECRET")
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
}


def stdlib_paragraphs(limit_chars: int) -> list[str]:
    """Docstring paragraphs (≥ 200 chars) of the standard library, in a fixed file order."""
    out: list[str] = []
    total = 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node)
                for para in (doc or "").split("\n\n"):
                    para = " ".join(para.split())
                    if len(para) >= 200:
                        out.append(para)
                        total += len(para)
                        if total >= limit_chars:
                            return out
    return out


class Presidio:
    """Presidio's predefined pattern recognisers, called directly (no NLP engine, no spaCy model)."""

    def __init__(self) -> None:
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        logging.getLogger("presidio-analyzer").setLevel(logging.CRITICAL)
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )

        self.recognizers = [
            EmailRecognizer(),
            PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "CN")),
            CreditCardRecognizer(),
            IbanRecognizer(),
            IpRecognizer(),
            UsSsnRecognizer(),
        ]

    def __call__(self, text: str) -> list[tuple[int, int, str]]:
        spans = []
        for rec in self.recognizers:
            for r in rec.analyze(text, rec.supported_entities, nlp_artifacts=None) or []:
                if r.entity_type == "IP_ADDRESS":
                    kind = "IPV6" if ":" in text[r.start : r.end] else "IPV4"
                else:
                    kind = PRESIDIO_TYPES.get(r.entity_type)
                if kind:
                    spans.append((r.start, r.end, kind))
        return spans


def lmforge(text: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.type) for s in scan(text)]


def score(docs: list[dict], preds: list[list[tuple[int, int, str]]]) -> dict:
    per: dict[str, dict[str, int]] = {t: {"gold": 0, "pred": 0, "exact": 0, "ov_p": 0, "ov_r": 0} for t in STRUCTURED}
    gold_chars = covered = neg = neg_hit = 0
    for doc, pred in zip(docs, preds, strict=True):
        gold = [(g["start"], g["end"], g["type"]) for g in doc["spans"]]
        for t in STRUCTURED:
            g_t = [g for g in gold if g[2] == t]
            p_t = [p for p in pred if p[2] == t]
            row = per[t]
            row["gold"] += len(g_t)
            row["pred"] += len(p_t)
            row["exact"] += len(set(g_t) & set(p_t))
            row["ov_p"] += sum(any(p[0] < g[1] and g[0] < p[1] for g in g_t) for p in p_t)
            row["ov_r"] += sum(any(p[0] < g[1] and g[0] < p[1] for p in p_t) for g in g_t)
        marked = bytearray(len(doc["text"]))
        for s, e, _ in pred:
            marked[s:e] = b"\x01" * (e - s)
        for s, e, _ in gold:
            gold_chars += e - s
            covered += sum(marked[s:e])
        for n in doc["negatives"]:
            neg += 1
            neg_hit += any(marked[n["start"] : n["end"]])
    return {"per": per, "covered": covered / max(gold_chars, 1), "neg_rate": neg_hit / max(neg, 1), "negatives": neg}


def prf(tp_p: int, tp_r: int, pred: int, gold: int) -> tuple[float, float, float]:
    p = tp_p / pred if pred else 0.0
    r = tp_r / gold if gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def throughput(fn, texts: list[str]) -> float:
    """MB/s per core: CPU time of this process (one thread), UTF-8 megabytes."""
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6
    start = time.process_time()
    for t in texts:
        fn(t)
    return mb / max(time.process_time() - start, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1500, help="labelled documents to generate")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mb", type=float, default=1.0, help="MB of plain prose for the no-PII speed row")
    ap.add_argument("--write", type=Path, help="also write the generated eval set as JSONL")
    args = ap.parse_args()

    paragraphs = stdlib_paragraphs(int(max(args.mb, 0.5) * 1e6))
    docs = build_eval(paragraphs, args.docs, args.seed)
    if args.write:
        args.write.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    texts = [d["text"] for d in docs]
    presidio = Presidio()
    systems = {"lmforge": lmforge, "presidio": presidio}
    results = {name: score(docs, [fn(t) for t in texts]) for name, fn in systems.items()}
    speed_eval = {name: throughput(fn, texts) for name, fn in systems.items()}
    plain = paragraphs
    speed_plain = {name: throughput(fn, plain) for name, fn in systems.items()}

    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(
        f"privacy bench: {len(docs)} docs ({mb:.2f} MB, seed {args.seed}), plain prose {sum(map(len, plain)) / 1e6:.2f} MB; "
        f"python {sys.version.split()[0]}, lmforge {version('lmforge')}, presidio-analyzer {version('presidio-analyzer')}, "
        f"cores {os.cpu_count()}"
    )
    head = f"{'type':<12} {'gold':>5} | {'lmforge P / R / F1 (exact)':>27} {'F1 ovl':>7} | {'presidio P / R / F1 (exact)':>28} {'F1 ovl':>7}"
    print(head)
    print("-" * len(head))
    for t in STRUCTURED:
        cells = []
        for name in systems:
            row = results[name]["per"][t]
            p, r, f = prf(row["exact"], row["exact"], row["pred"], row["gold"])
            _, _, fo = prf(row["ov_p"], row["ov_r"], row["pred"], row["gold"])
            cells.append(f"{p:7.3f} / {r:5.3f} / {f:5.3f}   {fo:7.3f}")
        print(f"{t:<12} {results['lmforge']['per'][t]['gold']:>5} | {cells[0]:>35} | {cells[1]:>36}")
    print("-" * len(head))
    lm, pr = results["lmforge"], results["presidio"]
    print(f"{'PII chars covered':<30} lmforge {lm['covered']:.4f}   presidio {pr['covered']:.4f}")
    print(
        f"{'hard-negative hit rate':<30} lmforge {lm['neg_rate']:.4f}   presidio {pr['neg_rate']:.4f}   ({lm['negatives']} negatives)"
    )
    print(
        f"{'MB/s per core, eval set':<30} lmforge {speed_eval['lmforge']:.2f}   presidio {speed_eval['presidio']:.3f}   ({speed_eval['lmforge'] / speed_eval['presidio']:.0f}x)"
    )
    print(
        f"{'MB/s per core, plain prose':<30} lmforge {speed_plain['lmforge']:.2f}   presidio {speed_plain['presidio']:.3f}   ({speed_plain['lmforge'] / speed_plain['presidio']:.0f}x)"
    )


if __name__ == "__main__":
    main()
