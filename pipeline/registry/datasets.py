"""Stage manifests as `mlflow.data` datasets, logged as inputs of the model's run.

Each dataset is the manifest's file list (path, bytes, sha256, rows/tokens) as a pandas frame — so MLflow shows
its schema and row count — named after the stage, with the stage id as digest and the stage folder as source.
Input tags add the counts (documents, tokens, PII redactions). No document text ever enters a frame.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lmforge.pipeline.curate.inputs import safe_name
from lmforge.pipeline.registry.lineage import Lineage, Stage, pii_counts

#: The input context each stage is logged under (MLflow's `mlflow.data.context` tag).
CONTEXTS = {"snapshots": "snapshot", "tokenizers": "tokenizer", "shards": "train"}


def file_frame(stage: Stage) -> pd.DataFrame:
    rows = [
        {
            "path": f.path,
            "bytes": f.bytes,
            "sha256": f.sha256,
            "rows": f.rows if f.rows is not None else -1,
            "tokens": f.tokens if f.tokens is not None else -1,
        }
        for f in (stage.manifest.files if stage.manifest else [])
    ]
    return pd.DataFrame(rows, columns=["path", "bytes", "sha256", "rows", "tokens"]).astype(
        {"path": "string", "bytes": "int64", "sha256": "string", "rows": "int64", "tokens": "int64"}
    )


def input_tags(stage: Stage) -> dict[str, str]:
    stats = stage.manifest.stats if stage.manifest else {}
    out = {"lmforge.stage": stage.kind[:-1], "lmforge.id": stage.id}
    if stage.kind == "snapshots":
        out["lmforge.docs"] = str(stats.get("kept", stats.get("docs", "")))
        out |= {f"lmforge.pii.{k}": str(v) for k, v in pii_counts(stage).items()}
    elif stage.kind == "shards":
        for split, s in (stats.get("splits") or {}).items():
            out[f"lmforge.{split}.tokens"] = str(s.get("tokens"))
            out[f"lmforge.{split}.docs"] = str(s.get("docs"))
    elif stage.kind == "tokenizers":
        out["lmforge.vocab_size"] = str(stats.get("vocab_size"))
    return out


def stage_dataset(stage: Stage) -> Any:
    import mlflow.data

    # redacted like a manifest's paths: a workspace under /data/jane.doe@example.org/ put her address in every
    # dataset MLflow lists; nothing reads the source back (`lineage --verify` goes by the version's tags)
    source = safe_name(str(stage.path)) if stage.path else f"lmforge://{stage.kind}/{stage.id}"
    return mlflow.data.from_pandas(
        file_frame(stage), source=source, name=f"{stage.kind[:-1]}-{stage.id}", digest=stage.id[:36]
    )


def log_inputs(lineage: Lineage) -> None:
    """Log snapshot, tokenizer and shards as inputs of the active MLflow run."""
    import mlflow

    for stage in (lineage.snapshot, lineage.tokenizer, lineage.shards):
        mlflow.log_input(stage_dataset(stage), context=CONTEXTS[stage.kind], tags=input_tags(stage))
