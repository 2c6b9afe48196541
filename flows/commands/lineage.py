"""`lmforge lineage`: the chain model → run → shards → tokenizer → snapshot → raw files, optionally re-hashed."""

from __future__ import annotations

import click

from lmforge.flows.commands.common import reading_workspace_option


def chain_lines(name: str, version, aliases: list[str]) -> list[str]:
    """The printed chain: ids, paths, digests and counts from the version's tags and the manifests."""
    from lmforge.pipeline.registry.lineage import CURATED_TAG

    t = dict(version.tags)
    lines = [
        f"model     models:/{name}/{version.version}  aliases: {', '.join('@' + a for a in aliases) or 'none'}",
        "  eval    "
        + "  ".join(
            f"{k.removeprefix('lmforge.eval.')} {v}" for k, v in sorted(t.items()) if k.startswith("lmforge.eval.")
        ),
        "  gate    "
        + "  ".join(
            f"{k.removeprefix('lmforge.gate.')} {v}"
            for k, v in sorted(t.items())
            if k.startswith("lmforge.gate.") and k != "lmforge.gate.reason"
        ),
        f"  code    version {t.get('lmforge.version')}  git {t.get('lmforge.git_sha')}",
        f"  prefect flow run {t.get('lmforge.prefect.flow_run_id', '-')}  {t.get('lmforge.prefect.flow_run_url') or ''}",
        f"run       {t.get('lmforge.run')}  {t.get('lmforge.run_dir')}  mlflow run {version.run_id}",
        f"  checkpoint {t.get('lmforge.checkpoint')}  sha256 {t.get('lmforge.checkpoint_sha256', '')[:16]}",
        f"shards    {t.get('lmforge.shards')}  {t.get('lmforge.shards_dir')}",
        f"tokenizer {t.get('lmforge.tokenizer')}  {t.get('lmforge.tokenizer_dir')}  sha256 "
        f"{t.get('lmforge.tokenizer_sha256', '')[:16]}",
        f"snapshot  {t.get('lmforge.snapshot')}  {t.get('lmforge.snapshot_dir')}",
        "  pii     "
        + (
            "  ".join(
                f"{k.removeprefix('lmforge.pii.')} {v}" for k, v in sorted(t.items()) if k.startswith("lmforge.pii.")
            )
            or "none redacted"
        ),
        "  dedup   "
        + (
            "  ".join(
                f"{k.removeprefix('lmforge.dedup.')} {v}"
                for k, v in sorted(t.items())
                if k.startswith("lmforge.dedup.")
            )
            or "-"
        ),
        f"raw       {t.get('lmforge.raw_inputs.count', '?')} input(s)",
    ]
    if t.get(CURATED_TAG):  # raw inputs inside a workspace moved after curation: where the snapshot names them
        moved_to = t.get("lmforge.workspace")
        lines.append(
            f"  curated in workspace {t[CURATED_TAG]}"
            + (f", moved to {moved_to} before registration" if moved_to else ", moved before registration")
        )
    lines += raw_input_lines(t.get("lmforge.raw_inputs", "[]"))
    return lines


def raw_input_lines(tag: str) -> list[str]:
    """One line per raw input of the `lmforge.raw_inputs` tag ([{path, sha256}, …]). Tags can be edited in MLflow's
    UI: one edited into other JSON (a dict, a list of numbers, a record without its digest) stopped `lineage` with a
    TypeError before it printed anything; it is said to be edited instead, and `--verify` goes on by the manifests."""
    import json

    try:
        raw = json.loads(tag)
    except json.JSONDecodeError:  # "see lineage.json (too long for a tag)"
        return []
    records = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(u, dict) and isinstance(u.get("sha256"), str) and "path" in u for u in records):
        return ["  (tag lmforge.raw_inputs is not the [{path, sha256}, …] list registered: it was edited)"]
    return [f"  {u['sha256'][:16]}  {u['path']}" for u in records]


@click.command("lineage")
@click.argument("model", default="models:/lmforge@champion")
@click.option("--verify", is_flag=True, help="Re-hash every file of the chain and the raw inputs; exit 1 on mismatch.")
@reading_workspace_option(remote_ok=True)
def command(model, verify, workspace) -> None:
    """Print the lineage of MODEL (models:/NAME@ALIAS, models:/NAME/VERSION, NAME@ALIAS; default
    models:/lmforge@champion): ids, paths, digests and counts only."""
    from lmforge.pipeline.registry import lineage
    from lmforge.pipeline.registry.registry import aliases_of, parse_ref, resolve_version, use_tracking

    use_tracking(workspace)
    name = parse_ref(model)[0]
    version = resolve_version(model)
    for line in chain_lines(name, version, aliases_of(name, version.version)):
        click.echo(line)
    if not verify:
        return
    notes: list[str] = []
    checked, problems = lineage.verify(dict(version.tags), workspace, notes=notes)  # finds a moved workspace's files
    for note in notes:  # inputs whose recorded path was redacted: not re-hashed, and no mismatch either
        click.echo(f"NOTE {note}")
    for problem in problems:
        click.echo(f"MISMATCH {problem}")
    if problems:
        click.echo(f"verify: {len(problems)} problem(s) in {checked} file(s) checked", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"verify: OK, {checked} file(s) re-hashed, all match")
