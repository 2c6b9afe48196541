"""Quality filters: lmforge vs datatrove on the same English documentation text, one process, one core.

Corpus: every stdlib docstring of at least `--min-words` words (`inspect.getdoc` over the stdlib modules), cycled
until `--mb` megabytes. Each filter runs alone over all documents (fresh copies), then the full chain in
lmforge's order. Datatrove's filters use their own English word tokenizer (spaCy), as they do in production.

    .venv/bin/python bench/curate_filters.py --mb 1
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from itertools import cycle

from lmforge.pipeline.curate.document import Document
from lmforge.pipeline.curate.filters import build_filters
from lmforge.pipeline.curate.filters.config import FiltersConfig
from lmforge.pipeline.curate.text_stats import TextStats

SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}


def stdlib_docstrings(min_words: int) -> list[str]:
    """Distinct docstrings of stdlib modules and their public members, in a sorted (deterministic) order."""
    warnings.filterwarnings("ignore")
    found: dict[str, None] = {}
    for name in sorted(m for m in sys.stdlib_module_names if not m.startswith("_") and m not in SKIP):
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - platform-specific modules simply do not import
            continue
        for obj in [mod] + [getattr(mod, a, None) for a in sorted(dir(mod)) if not a.startswith("_")]:
            doc = inspect.getdoc(obj) if obj is not None else None
            if doc and TextStats(doc, "en").n_words >= min_words:
                found[doc] = None
    return list(found)


def corpus(docs: list[str], mb: float) -> list[str]:
    out, total = [], 0
    for text in cycle(docs):
        if total >= mb * 1e6:
            break
        out.append(text)
        total += len(text.encode("utf-8"))
    return out


def run(step: Callable[[object], object], make: Callable[[str], object], texts: list[str]) -> tuple[float, int]:
    """Seconds to judge every text, and how many were kept."""
    docs = [make(t) for t in texts]
    kept = 0
    start = time.perf_counter()
    for d in docs:
        verdict = step(d)
        kept += verdict is True or (isinstance(verdict, tuple) and verdict[0] is True)
    return time.perf_counter() - start, kept


def chain(filters: list) -> Callable[[object], bool]:
    def step(doc: object) -> bool:
        for f in filters:
            v = f.filter(doc)
            if not (v is True or (isinstance(v, tuple) and v[0] is True)):
                return False
        return True

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.0, help="megabytes of text to judge (default 1)")
    ap.add_argument("--min-words", type=int, default=50, help="shortest docstring taken (words)")
    args = ap.parse_args()

    from datatrove.data import Document as DtDocument
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    base = stdlib_docstrings(args.min_words)
    texts = corpus(base, args.mb)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    ours = {f.name: f for f in build_filters(FiltersConfig())}
    theirs = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        # Same page rule as our default: documentation keeps its braces.
        "c4": C4QualityFilter(filter_curly_bracket=False),
        "fineweb": FineWebQualityFilter(),
    }
    ours_doc = lambda t: Document(doc_id="b", text=t, source="bench", path="bench", lang="en")  # noqa: E731
    theirs_doc = lambda t: DtDocument(text=t, id="b")  # noqa: E731
    run(theirs["gopher_quality"].filter, theirs_doc, texts[:3])  # load the spaCy tokenizer outside the timing

    rows = []
    for name, dt in theirs.items():
        ours_s, ours_kept = run(ours[name].filter, ours_doc, texts)
        dt_s, dt_kept = run(dt.filter, theirs_doc, texts)
        rows.append((name, ours_s, ours_kept, dt_s, dt_kept))
    ours_s, ours_kept = run(chain([ours[n] for n in theirs]), ours_doc, texts)
    dt_s, dt_kept = run(chain(list(theirs.values())), theirs_doc, texts)
    rows.append(("chain (all four)", ours_s, ours_kept, dt_s, dt_kept))

    print(
        f"quality filters: {len(texts)} docs ({len(base)} distinct stdlib docstrings >= {args.min_words} words), "
        f"{n_bytes / 1e6:.2f} MB, 1 process; os.cpu_count()={os.cpu_count()}; python {sys.version.split()[0]}, "
        f"lmforge {version('lmforge')}, datatrove {version('datatrove')}, spacy {version('spacy')}"
    )
    print(f"{'filter':<20}{'lmforge MB/s':>14}{'datatrove MB/s':>16}{'speedup':>9}{'kept lmforge':>14}{'kept dt':>9}")
    for name, o_s, o_k, d_s, d_k in rows:
        print(
            f"{name:<20}{n_bytes / 1e6 / o_s:>14.2f}{n_bytes / 1e6 / d_s:>16.2f}{d_s / o_s:>8.1f}x"
            f"{o_k / len(texts):>14.1%}{d_k / len(texts):>9.1%}"
        )


if __name__ == "__main__":
    main()
