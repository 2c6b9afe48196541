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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lmforge.pipeline.configuring import from_dict
from lmforge.pipeline.errors import LmforgeError, NotFoundError
from lmforge.pipeline.registry.config import RegistryConfig
from lmforge.pipeline.registry.registry import CHAMPION
from lmforge.pipeline.stage import find_stage
from lmforge.schemas.manifest import Manifest

log = logging.getLogger(__name__)

#: Prefix of the tags that hold the gate's verdict on a model version.
GATE_TAG = "lmforge.gate."


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
        return {f"{GATE_TAG}{k}": str(v) for k, v in asdict(self).items() if v is not None}

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


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _stage_dir(workspace: Path, kind: str, tags: dict[str, str], key: str) -> Path:
    recorded = tags.get(f"lmforge.{key}_dir")
    if recorded and (Path(recorded) / "manifest.json").is_file():
        return Path(recorded)
    return find_stage(workspace, kind, tags.get(f"lmforge.{key}", "?"))


def _not_found(exc: Exception) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_DOES_NOT_EXIST"


def _aliases(client: Any, name: str) -> dict[str, Any]:
    """The model's alias table; NotFoundError when there is no such model (any other MLflow error is raised as it
    is: the alias table, not a failed lookup, says "no champion")."""
    try:
        return client.get_registered_model(name).aliases or {}
    except Exception as exc:
        if not _not_found(exc):
            raise
        raise NotFoundError(
            f"registered model {name!r} does not exist; nothing to judge. Register a run first (`lmforge register "
            f"--run RUN --model-name {name}`)"
        ) from exc


def _version(client: Any, name: str, version: str) -> Any:
    """The ModelVersion, or a NotFoundError when it was deleted (MLflow's RESOURCE_DOES_NOT_EXIST, a traceback from
    the flow before); any other MLflow error (a server's 503) is raised as it is, to stop the gate."""
    try:
        return client.get_model_version(name, version)
    except Exception as exc:
        if not _not_found(exc):
            raise
        raise NotFoundError(
            f"model {name!r} has no version {version} (deleted since it was registered?); nothing to judge. "
            f"Register the run again (`lmforge register --run RUN --model-name {name}`)"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def reencode_val(workspace: Path, champion_shards: Path, tokenizer_dir: Path) -> Path:
    """The champion's snapshot encoded with another tokenizer, with the champion's shards config (same split)."""
    from lmforge.pipeline.tokenize.config import ShardsConfig
    from lmforge.pipeline.tokenize.shards import build_shards

    manifest = Manifest.read(champion_shards)
    snapshot = find_stage(workspace, "snapshots", str(manifest.inputs.get("snapshot")))
    config = from_dict(ShardsConfig, manifest.params, where=str(champion_shards / "manifest.json"))
    return build_shards(snapshot, tokenizer_dir, workspace, config, workers=1)


class _Incomparable(Exception):
    """Something the comparison needs cannot be read: `what` (a sentence), and the version whose lineage holds it."""

    def __init__(self, what: str, whose: str) -> None:
        super().__init__(what)
        self.what, self.whose = what, whose


def _score_both(
    workspace: Path,
    champion: tuple[Any, str],
    candidate: tuple[Any, str],
    cand_tags: dict[str, str],
    champ_shards: Path,
    config: RegistryConfig,
) -> tuple[float, float]:
    """(champion bpb, candidate bpb) on the champion's val documents, re-encoded for a candidate with another
    tokenizer; _Incomparable (caused by the error) when a folder or file this needs is gone or damaged."""
    (champ_model, champ_v), (cand_model, cand_v) = champion, candidate
    cand_shards = champ_shards
    if cand_model.info["tokenizer_sha256"] != champ_model.info["tokenizer_sha256"]:
        try:
            tokenizer_dir = _stage_dir(workspace, "tokenizers", cand_tags, "tokenizer")
        except LmforgeError as exc:
            raise _Incomparable(
                f"candidate v{cand_v}'s tokenizer {cand_tags.get('lmforge.tokenizer')} is not in the workspace, and "
                "the champion's val documents must be re-encoded with it",
                cand_v,
            ) from exc
        try:
            cand_shards = reencode_val(workspace, champ_shards, tokenizer_dir)
        except (LmforgeError, OSError) as exc:
            raise _Incomparable(
                f"champion v{champ_v}'s snapshot {Manifest.read(champ_shards).inputs.get('snapshot')} (its val "
                f"documents, to re-encode with the candidate's tokenizer {tokenizer_dir.name}) cannot be read",
                champ_v,
            ) from exc
    scores = []
    for (model, version), shards in ((champion, champ_shards), (candidate, cand_shards)):
        try:
            scores.append(_bpb(model, shards, config))
        except (LmforgeError, OSError) as exc:
            whose = version if shards != champ_shards else champ_v
            role = "champion" if version == champ_v else "candidate"
            raise _Incomparable(f"{role} v{version}'s val shards {shards.name} cannot be scored", whose) from exc
    return scores[0], scores[1]


def judge(workspace: str | Path, name: str, candidate_version: str, config: RegistryConfig | None = None) -> GateResult:
    """Score candidate and champion on the champion's val documents and decide; changes nothing in MLflow."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    config = config or RegistryConfig()
    workspace = Path(workspace)
    client = MlflowClient()
    # The alias table, not a failed lookup, says "no champion": a request that fails (a server's 503) must stop the
    # gate rather than promote the candidate over a champion that exists.
    champion_version = _aliases(client, name).get(CHAMPION)
    if champion_version is None:
        # No comparison to make, but a model that scores no finite loss on its own val shards (weights diverged to
        # NaN) must not become champion: every later margin against its NaN would be NaN, so none could replace it.
        own_bpb = _float(_version(client, name, candidate_version).tags.get("lmforge.eval.val_bpb"))
        if own_bpb is not None and not math.isfinite(own_bpb):
            return GateResult(
                False,
                f"its val bpb on its own val shards is {own_bpb} (weights not finite?); not made champion",
                candidate_version,
                candidate_bpb=own_bpb,
            )
        others = [v for v in client.search_model_versions(f"name = '{name}'") if str(v.version) != candidate_version]
        if not others and str(candidate_version) == "1":
            return GateResult(True, "no champion yet: the first version becomes champion", candidate_version)
        # Versions exist or existed (numbers are never reused) but none holds the alias: its version was deleted or
        # the alias removed by hand. Said as such: "the first version" of v5 sent the reader looking for a gate bug.
        return GateResult(
            True,
            f"no version holds @{CHAMPION} (its version deleted, or the alias removed): becomes champion without a "
            "comparison",
            candidate_version,
        )
    champion = client.get_model_version(name, str(champion_version))
    if str(champion.version) == str(candidate_version):
        return GateResult(True, "already champion", candidate_version, str(champion.version))
    candidate = _version(client, name, candidate_version)
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
                f"({_first_line(exc)}); cannot compare, not promoted. "
                f"Check it with `lmforge lineage models:/{name}/{version} --verify`, or move @{CHAMPION} by hand",
                candidate_version,
                str(champion.version),
            )
    champ_model, cand_model = loaded["champion"], loaded["candidate"]
    reencoded = cand_model.info["tokenizer_sha256"] != champ_model.info["tokenizer_sha256"]
    try:
        champ_bpb, cand_bpb = _score_both(
            workspace,
            (champ_model, str(champion.version)),
            (cand_model, candidate_version),
            cand_tags,
            champ_shards,
            config,
        )
    except _Incomparable as exc:
        # A stage folder or file the comparison needs is gone or damaged: the verdict is recorded (not promoted, and
        # why) instead of an error from deep inside re-encoding or scoring, which left the version without one.
        return GateResult(
            False,
            f"{exc.what} ({_first_line(exc.__cause__)}); cannot compare, not promoted. Restore it (`lmforge lineage "
            f"models:/{name}/{exc.whose} --verify` lists what is missing), or move @{CHAMPION} by hand",
            candidate_version,
            str(champion.version),
            reencoded=reencoded,
        )
    margin = champ_bpb - cand_bpb
    if math.isfinite(cand_bpb) and math.isnan(champ_bpb):
        # NaN compares false with everything: a champion that scores NaN (one registered before the first-version
        # check above) kept @champion against every candidate.
        promoted, reason = True, "the champion scores nan bpb on its own val shards (weights not finite?): replaced"
    else:
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


def apply(name: str, result: GateResult) -> GateResult:
    """Record the gate's verdict on the version (tags, and its description for the MLflow UI) and its numbers on its
    run (metrics); move `champion` if it passed and the champion is still the one it was judged against. Returns the
    verdict recorded: not promoted, saying why, when the champion moved meanwhile.

    A metric gets a point only when its value changed, one step after the last: judging the same version again (a
    re-run that registered nothing new) adds no second point at the same step."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if result.promoted:
        # Two candidates judged at once against one champion both pass; without this check the one applied last took
        # @champion even when the other had just beaten it by more. MLflow has no compare-and-set for aliases, so a
        # window remains between this read and the alias move, but it is that of two requests, not of an evaluation.
        now = (client.get_registered_model(name).aliases or {}).get(CHAMPION)
        if (None if now is None else str(now)) != result.champion_version:
            judged = f"v{result.champion_version}" if result.champion_version else "no champion"
            where = f"v{now}" if now is not None else "no version"
            result = replace(
                result,
                promoted=False,
                reason=f"@{CHAMPION} moved to {where} while this gate judged against {judged}; not promoted: run the "
                "gate again to compare with the champion as it is now",
            )
    version = _version(client, name, result.candidate_version)
    tags = result.tags()
    # A verdict's tags replace the previous verdict's: one without a comparison ("no champion") has no
    # champion_bpb, and the old one left beside promoted=True showed a model promoted over a better champion.
    for key in sorted(set(version.tags) - set(tags)):
        if key.startswith(GATE_TAG):
            client.delete_model_version_tag(name, result.candidate_version, key)
    for key, value in tags.items():
        client.set_model_version_tag(name, result.candidate_version, key, value)
    # The UI shows a version's description on its page and in the version list; tags sit further down. A description
    # someone wrote by hand is left as it is.
    if not version.description or version.description.startswith("gate: "):
        client.update_model_version(name, result.candidate_version, description=result.line())
    if version.run_id:
        _log_gate_metrics(client, version.run_id, result)
    if result.promoted:
        client.set_registered_model_alias(name, CHAMPION, result.candidate_version)
    log.info("%s", result.line())
    return result


def _log_gate_metrics(client: Any, run_id: str, result: GateResult) -> None:
    """The gate's numbers as metrics of the version's run, one step after the last when they changed. A run deleted
    in the UI (or its experiment) refuses every write, and purged it is gone: that stopped `apply` after the verdict
    was on the version's tags and before @champion moved, at every gate of that version; the tags have the numbers."""
    from mlflow.exceptions import MlflowException

    try:
        for key in ("candidate_bpb", "champion_bpb"):
            value = getattr(result, key)
            history = client.get_metric_history(run_id, f"gate.{key}") if value is not None else []
            last = max(history, key=lambda m: (m.step, m.timestamp), default=None)
            if value is not None and (last is None or last.value != value):
                client.log_metric(run_id, f"gate.{key}", value, step=last.step + 1 if last else 0)
    except MlflowException as exc:
        if exc.error_code not in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
            raise  # a store that does not answer stops the gate, to be run again
        log.warning(
            "MLflow run %s of version %s takes no gate metrics (%s); the verdict is on the version's tags",
            run_id,
            result.candidate_version,
            _first_line(exc),
        )


def judge_and_apply(
    workspace: str | Path, name: str, candidate_version: str, config: RegistryConfig | None = None, attempts: int = 3
) -> GateResult:
    """`judge` then `apply`, judging again (up to `attempts` times) when the champion moved while it judged, so a
    candidate that also beats the new champion still becomes champion. A store that fails meanwhile (a server
    restarting) is one line saying so, not MLflow's traceback: the gate is run again by re-running `register`."""
    from mlflow.exceptions import MlflowException

    from lmforge.pipeline.registry.registry import store_error

    try:
        for _ in range(attempts - 1):
            judged = judge(workspace, name, candidate_version, config)
            result = apply(name, judged)
            if result == judged:
                return result
        return apply(name, judge(workspace, name, candidate_version, config))
    except MlflowException as exc:
        raise store_error(
            exc,
            f"judging {name} version {candidate_version} against @{CHAMPION}",
            f"@{CHAMPION} not moved (the version may hold part of the verdict's tags); `lmforge register` of its run "
            "registers nothing new and judges it again",
        ) from exc
