"""The promotion gate: a candidate becomes `champion` only if it beats the champion's val bits per byte on the
champion's own validation documents.

Bits per byte is tokenizer-independent (total NLL / ln 2 / UTF-8 bytes; see `train/evaluate.py`), so models with
different tokenizers compare fairly as long as they score the same documents: with the same tokenizer both score
the champion's val shards; otherwise the champion's snapshot is re-encoded with the candidate's tokenizer (same
shards config, hence the same doc_id-hash split) and each model scores the val documents in its own tokens.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import LmforgeError, NotFoundError
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import CHAMPION
from lmforge.pipeline.stage import find_stage
from lmforge.schemas.manifest import Manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GateResult:
    promoted: bool
    reason: str
    candidate_version: str
    champion_version: str | None = None
    candidate_bpb: float | None = None
    champion_bpb: float | None = None
    val_shards: str | None = None
    reencoded: bool = False

    def tags(self) -> dict[str, str]:
        return {f"lmforge.gate.{k}": str(v) for k, v in asdict(self).items() if v is not None}

    def line(self) -> str:
        if self.champion_bpb is None:
            return (
                f"gate: v{self.candidate_version} {'promoted' if self.promoted else 'kept as candidate'}: {self.reason}"
            )
        verdict = "promoted to champion" if self.promoted else "stays candidate"
        return (
            f"gate: v{self.candidate_version} val bpb {self.candidate_bpb:.4f} vs champion v{self.champion_version} "
            f"{self.champion_bpb:.4f} on shards {self.val_shards}{' (re-encoded)' if self.reencoded else ''}: "
            f"{verdict} ({self.reason})"
        )


def _load(name: str, version: str, workspace: Path) -> Any:
    from lmforge.pipeline.registry.registry import load_pyfunc

    return load_pyfunc(f"models:/{name}/{version}", workspace).unwrap_python_model().loaded


def _bpb(loaded: Any, shards_dir: Path, config: RegistryConfig) -> float:
    from lmforge.pipeline.registry.registry import evaluate_packaged

    return float(evaluate_packaged(loaded, shards_dir, config)["bpb"])


def _stage_dir(workspace: Path, kind: str, tags: dict[str, str], key: str) -> Path:
    recorded = tags.get(f"lmforge.{key}_dir")
    if recorded and (Path(recorded) / "manifest.json").is_file():
        return Path(recorded)
    return find_stage(workspace, kind, tags.get(f"lmforge.{key}", "?"))


def reencode_val(workspace: Path, champion_shards: Path, tokenizer_dir: Path) -> Path:
    """The champion's snapshot encoded with another tokenizer, with the champion's shards config (same split)."""
    from lmforge.pipeline.tokenize.config import ShardsConfig
    from lmforge.pipeline.tokenize.shards import build_shards

    manifest = Manifest.read(champion_shards)
    snapshot = find_stage(workspace, "snapshots", str(manifest.inputs.get("snapshot")))
    config = from_dict(ShardsConfig, manifest.params, where=str(champion_shards / "manifest.json"))
    return build_shards(snapshot, tokenizer_dir, workspace, config, workers=1)


def judge(workspace: str | Path, name: str, candidate_version: str, config: RegistryConfig | None = None) -> GateResult:
    """Score candidate and champion on the champion's val documents and decide; changes nothing in MLflow."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    config = config or RegistryConfig()
    workspace = Path(workspace)
    client = MlflowClient()
    # The alias table, not a failed lookup, says "no champion": a request that fails (a server's 503) must stop the
    # gate rather than promote the candidate over a champion that exists.
    champion_version = (client.get_registered_model(name).aliases or {}).get(CHAMPION)
    if champion_version is None:
        return GateResult(True, "no champion yet: the first version becomes champion", candidate_version)
    champion = client.get_model_version(name, str(champion_version))
    if str(champion.version) == str(candidate_version):
        return GateResult(True, "already champion", candidate_version, str(champion.version))
    candidate = client.get_model_version(name, candidate_version)
    champ_tags, cand_tags = dict(champion.tags), dict(candidate.tags)
    try:
        champ_shards = _stage_dir(workspace, "shards", champ_tags, "shards")
    except NotFoundError as exc:
        return GateResult(
            False,
            f"champion's val shards are gone ({exc}); cannot compare, not promoted",
            candidate_version,
            str(champion.version),
        )
    loaded = {}
    for role, version in (("champion", str(champion.version)), ("candidate", str(candidate_version))):
        try:
            loaded[role] = _load(name, version, workspace)
        except (MlflowException, LmforgeError, OSError) as exc:
            # A package deleted or damaged under the artifact store: no comparison is possible, and "No such
            # artifact: ''" from deep inside MLflow said neither which model nor what to do.
            return GateResult(
                False,
                f"{role} v{version}'s model package (models:/{name}/{version}) cannot be loaded "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); cannot compare, not promoted. "
                f"Check it with `lmforge lineage models:/{name}/{version} --verify`, or move @{CHAMPION} by hand",
                candidate_version,
                str(champion.version),
            )
    champ_model, cand_model = loaded["champion"], loaded["candidate"]
    reencoded = cand_model.info["tokenizer_sha256"] != champ_model.info["tokenizer_sha256"]
    cand_shards = champ_shards
    if reencoded:
        cand_shards = reencode_val(workspace, champ_shards, _stage_dir(workspace, "tokenizers", cand_tags, "tokenizer"))
    champ_bpb = _bpb(champ_model, champ_shards, config)
    cand_bpb = _bpb(cand_model, cand_shards, config)
    margin = champ_bpb - cand_bpb
    promoted = math.isfinite(cand_bpb) and margin > config.min_improvement
    reason = (
        f"beats the champion by {margin:.4f} bpb"
        if promoted
        else f"does not beat the champion by more than {config.min_improvement:g} bpb (difference {margin:+.4f})"
    )
    return GateResult(
        promoted,
        reason,
        candidate_version,
        str(champion.version),
        cand_bpb,
        champ_bpb,
        Manifest.read(champ_shards).id,
        reencoded,
    )


def apply(name: str, result: GateResult) -> None:
    """Record the gate's numbers on the version (tags) and its run (metrics); move `champion` if it passed.

    A metric gets a point only when its value changed, one step after the last: judging the same version again (a
    re-run that registered nothing new) adds no second point at the same step."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for key, value in result.tags().items():
        client.set_model_version_tag(name, result.candidate_version, key, value)
    run_id = client.get_model_version(name, result.candidate_version).run_id
    if run_id:
        for key in ("candidate_bpb", "champion_bpb"):
            value = getattr(result, key)
            history = client.get_metric_history(run_id, f"gate.{key}") if value is not None else []
            last = max(history, key=lambda m: (m.step, m.timestamp), default=None)
            if value is not None and (last is None or last.value != value):
                client.log_metric(run_id, f"gate.{key}", value, step=last.step + 1 if last else 0)
    if result.promoted:
        client.set_registered_model_alias(name, CHAMPION, result.candidate_version)
    log.info("%s", result.line())
