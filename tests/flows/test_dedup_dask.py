"""Signatures fanned out as Prefect tasks on a local Dask cluster (two worker processes) equal the serial ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lmforge.pipeline.dedup.config import DedupConfig
from lmforge.pipeline.dedup.find import find_duplicates
from lmforge.pipeline.dedup.signatures import compute_signatures
from tests.support.dedup import doc, edit_words, paragraphs, write_part


def _parts(root: Path) -> list[Path]:
    en, zh = paragraphs("en"), paragraphs("zh")
    docs = [doc(f"en-{i}", " ".join(en[i : i + 3])) for i in range(10)]
    docs += [doc(f"edit-{i}", edit_words(" ".join(en[i : i + 3]), 0.01, i)) for i in range(0, 10, 3)]
    docs += [doc(f"zh-{i}", zh[i] + zh[(i + 1) % 5], "zh") for i in range(5)] + [doc("zh-copy", zh[0] + zh[1], "zh")]
    return [write_part(root / f"part-{k:05d}.parquet", docs[k::4]) for k in range(4)]


@pytest.mark.usefixtures("prefect_harness")
def test_signature_tasks_on_dask_equal_serial(tmp_path):
    import cloudpickle
    from prefect import flow, task
    from prefect_dask import DaskTaskRunner

    # Workers import lmforge normally, but this test module is not importable there: ship it by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    config = DedupConfig()

    @task
    def signatures_task(part: str, out_dir: str) -> str:
        return str(compute_signatures(Path(part), config, Path(out_dir)))

    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "processes": True, "threads_per_worker": 1})

    @flow(task_runner=runner)
    def signatures_flow(parts: list[str], out_dir: str) -> list[str]:
        futures = [signatures_task.submit(p, out_dir) for p in parts]
        return [f.result() for f in futures]

    parts = _parts(tmp_path / "parts")
    on_dask = [Path(p) for p in signatures_flow([str(p) for p in parts], str(tmp_path / "dask"))]
    serial = [compute_signatures(p, config, tmp_path / "serial") for p in parts]
    assert [p.name for p in on_dask] == [p.name for p in serial]
    for a, b in zip(on_dask, serial, strict=True):
        assert pq.read_table(a).equals(pq.read_table(b))
    dask_result = find_duplicates(parts, on_dask, config, tmp_path / "w1", None)
    serial_result = find_duplicates(parts, serial, config, tmp_path / "w2", None)
    assert dask_result.duplicates.equals(serial_result.duplicates)
    assert dask_result.stats == serial_result.stats
    assert dask_result.stats["exact_duplicate"] == 1 and dask_result.stats["near_duplicate"] >= 3
