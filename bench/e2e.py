"""End to end: `lmforge run` on the built-in default corpus — wall time per stage and Prefect's orchestration overhead.

Runs the real command in a fresh workspace (embedded Prefect, MLflow on SQLite), then reads Prefect's own records
(the SQLite database under <workspace>/.prefect) for the flow and task runs:
  stage time  = each subflow run's duration;
  step time   = the union of the intervals in which a task was running (tasks do all the data work);
  overhead    = top-level flow time − step time   (target ≤ 5 %).
Process wall time (Python start-up, the temporary API server, imports) is printed beside it.

    .venv/bin/python bench/e2e.py [--workspace DIR] [--config FILE] [--corpus-mb 16]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table, versions  # noqa: E402


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace(" ", "T").replace("Z", "+00:00")).timestamp()


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def read_runs(db: Path) -> tuple[list[dict], list[dict]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    flows = [
        dict(r)
        for r in con.execute(
            "SELECT fr.id, fr.name, f.name AS flow, fr.start_time, fr.end_time, fr.parent_task_run_id "
            "FROM flow_run fr JOIN flow f ON f.id = fr.flow_id"
        )
    ]
    tasks = [dict(r) for r in con.execute("SELECT id, name, flow_run_id, start_time, end_time FROM task_run")]
    con.close()
    return flows, tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--corpus-mb", type=float, default=None)
    ap.add_argument(
        "--analyze",
        type=Path,
        default=None,
        help="Only read the records of a workspace that `lmforge run` (e.g. `make run`) already ran.",
    )
    args = ap.parse_args()
    if args.analyze:
        report(args.analyze, wall=None, result={})
        return
    ws = args.workspace or Path(tempfile.mkdtemp(prefix="lmforge-bench-e2e-")) / "ws"
    cmd = [sys.executable, "-m", "lmforge.flows", "run", "--workspace", str(ws)]
    if args.config:
        cmd += ["--config", str(args.config)]
    if args.corpus_mb:
        cmd += ["--corpus-mb", str(args.corpus_mb)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env["LMFORGE_JSON"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"lmforge run failed:\n{proc.stderr[-4000:]}")
    report(ws, wall, json.loads(proc.stdout.strip().splitlines()[-1]))


def report(ws: Path, wall: float | None, result: dict) -> None:
    flows, tasks = read_runs(ws / ".prefect" / "prefect.db")
    top = max(
        (f for f in flows if f["flow"] == "lmforge-run" and f["parent_task_run_id"] is None and f["end_time"]),
        key=lambda f: _ts(f["end_time"]) - _ts(f["start_time"]),
    )
    by_id = {f["id"]: f for f in flows}
    task_parent = {t["id"]: t["flow_run_id"] for t in tasks}

    def root_of(flow_id: str) -> str:
        f = by_id[flow_id]
        while f["parent_task_run_id"]:
            f = by_id[task_parent[f["parent_task_run_id"]]]
        return f["id"]

    mine = {f["id"] for f in flows if root_of(f["id"]) == top["id"]}
    flow_time = _ts(top["end_time"]) - _ts(top["start_time"])
    subflow_task_ids = {f["parent_task_run_id"] for f in flows if f["parent_task_run_id"]}
    leaf = [
        (_ts(t["start_time"]), _ts(t["end_time"]))
        for t in tasks
        if t["flow_run_id"] in mine and t["id"] not in subflow_task_ids and t["start_time"] and t["end_time"]
    ]
    step_time = union_seconds(leaf)
    rows = []
    for f in sorted((f for f in flows if f["id"] in mine and f["id"] != top["id"]), key=lambda f: f["start_time"]):
        rows.append([f["flow"], _ts(f["end_time"]) - _ts(f["start_time"])])
    overhead = flow_time - step_time
    print(f"bench/e2e.py — {machine()}; {versions('lmforge', 'prefect', 'mlflow', 'torch', 'sentencepiece')}")
    print(table(["stage (subflow)", "seconds"], rows))
    measures = [
        ["top-level flow run", flow_time],
        ["tasks running (union)", step_time],
        ["orchestration overhead", overhead],
    ]
    if wall is not None:
        measures.insert(0, ["process wall (incl. start-up, API server)", wall])
    print(table(["measure", "seconds"], measures))
    print(f"orchestration overhead: {100 * overhead / flow_time:.1f} % of the flow run   (target ≤ 5 %)")
    ev = result.get("eval", {})
    if ev:
        print(f"val ppl {ev['model']['ppl']:.2f} vs unigram {ev['unigram']['ppl']:.2f}")


if __name__ == "__main__":
    main()
