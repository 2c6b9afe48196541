"""`lmforge pii scan|redact`: run the privacy filter alone on a JSONL file (no Prefect needed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lmforge.pipeline.errors import ConfigError, InputError
from lmforge.pipeline.privacy.config import PrivacyConfig
from lmforge.pipeline.privacy.jsonl import JsonlReport, redact_jsonl, scan_jsonl


def _config(config_path: Path | None, ner: bool) -> PrivacyConfig:
    if config_path is not None:
        from dataclasses import replace

        from lmforge.pipeline.config import load_config

        cfg = load_config(config_path).privacy
        return replace(cfg, ner=True) if ner else cfg
    return PrivacyConfig(ner=ner)


def _check_outputs(input_path: Path, *outputs: Path | None) -> None:
    """Refuse an output that is the input (opening it for writing would empty it before it is read) or that lies in
    a missing folder, before anything is opened."""
    for out in outputs:
        if out is None:
            continue
        if out.exists() and input_path.exists() and out.samefile(input_path):
            raise ConfigError(f"{out} is the input file; write the output elsewhere")
        if not out.parent.is_dir():
            raise ConfigError(f"{out}: folder {out.parent} does not exist")


def _warn(error: InputError) -> None:
    click.echo(f"lmforge: warning: {error} (skipped)", err=True)


def _finish(report: JsonlReport, verb: str, report_path: Path | None) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items())) or "none"
    click.echo(f"{verb} {report.records} records; errors {report.errors}; dropped {report.dropped}; {counts}", err=True)
    if report_path is not None:
        report_path.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if report.errors:
        raise click.exceptions.Exit(1)


_common = [
    click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Run config (TOML or YAML); its [privacy] section is used.",
    ),
    click.option("--ner", is_flag=True, help="Also detect PERSON/ADDRESS (needs the 'ner' extra and a spaCy model)."),
    click.option(
        "--strict", is_flag=True, help="Stop at the first bad line (exit 2) instead of reporting and going on."
    ),
    click.option(
        "--report",
        "report_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Write counts per type and per source as JSON.",
    ),
]


def _with_common(fn):
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.group(name="pii")
def command() -> None:
    """Detect or redact personal data in JSONL records {"id": ..., "text": ...} (.jsonl, .jsonl.gz, .jsonl.zst)."""


@command.command(name="scan")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Spans JSONL to write."
)
@_with_common
def scan_command(
    input_path: Path, out: Path, config_path: Path | None, ner: bool, strict: bool, report_path: Path | None
) -> None:
    """Write one line per record: {"id", "spans": [{"start", "end", "type"}]} (code-point offsets, end exclusive)."""
    _check_outputs(input_path, out, report_path)
    report = scan_jsonl(input_path, out, _config(config_path, ner), strict=strict, on_error=_warn)
    _finish(report, "scanned", report_path)


@command.command(name="redact")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Redacted JSONL to write."
)
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where dropped/bad records go [OUT.rejects.jsonl].",
)
@_with_common
def redact_command(
    input_path: Path,
    out: Path,
    rejects: Path | None,
    config_path: Path | None,
    ner: bool,
    strict: bool,
    report_path: Path | None,
) -> None:
    """Write each record with personal data in `text` replaced by typed placeholders (<EMAIL>, <PHONE>, …)."""
    _check_outputs(input_path, out, rejects, report_path)
    report = redact_jsonl(input_path, out, _config(config_path, ner), rejects=rejects, strict=strict, on_error=_warn)
    _finish(report, "redacted", report_path)
