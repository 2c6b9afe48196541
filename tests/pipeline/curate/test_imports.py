"""A curation worker's imports: neither torch nor pandera/pandas (together ~2.4 s and ~190 MB per process)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "pandera", "pandas")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_the_curate_path_imports_neither_torch_nor_pandera():
    loaded = _modules_after(
        "from lmforge.pipeline.config import load_config\n"
        "from lmforge.pipeline.curate.process import UnitCurator\n"
        "from lmforge.pipeline.curate.snapshot import curate\n"
        "from lmforge.schemas.snapshot import SNAPSHOT_SCHEMA\n"
        "from lmforge.pipeline.train.models import ModelConfig\n"
        "load_config()"
    )
    assert {"lmforge.pipeline.curate.process", "lmforge.pipeline.train.models"} <= loaded
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_a_unit_worker_loads_no_dedup_code_until_it_deduplicates():
    loaded = _modules_after(
        "from lmforge.pipeline.config import load_config\n"
        "from lmforge.pipeline.curate.process import UnitCurator\n"
        "load_config()"
    )
    assert "lmforge.pipeline.dedup.config" in loaded
    assert not {"lmforge.pipeline.dedup.find", "lmforge.pipeline.dedup.index", "pyarrow.compute"} & loaded
    loaded = _modules_after("from lmforge.pipeline.dedup import find_duplicates, open_index")
    assert {"lmforge.pipeline.dedup.find", "lmforge.pipeline.dedup.index"} <= loaded


def test_building_a_model_and_validating_a_snapshot_import_them_when_used():
    loaded = _modules_after(
        "import pyarrow as pa\n"
        "from lmforge.pipeline.train.models import ModelConfig, build_model\n"
        "from lmforge.schemas.snapshot import SNAPSHOT_SCHEMA, validate_snapshot\n"
        "build_model(ModelConfig(), 64)\n"
        "row = dict(doc_id='s/1', text='Hello.', source='s', url=None, created_at=None, lang='en', lang_score=0.9,"
        " n_chars=6, content_hash='0' * 32)\n"
        "validate_snapshot(pa.Table.from_pylist([row], schema=SNAPSHOT_SCHEMA), 'one row')"
    )
    assert {"torch", "pandera", "lmforge.schemas.snapshot_models"} <= loaded
