"""`lmforge pii scan|redact`: run the privacy filter alone on a JSONL file (no Prefect needed)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TextIO

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


#: `-` as INPUT reads stdin, as --out (or --report) writes stdout, as Unix tools do; `./-` names a file called `-`.
DASH = "-"
#: What `-` as INPUT is read as: a path, so compressed and UTF-16 input on stdin is told apart as from a file.
STDIN = Path("/dev/stdin")


def _input(value: str) -> Path:
    return STDIN if value == DASH else Path(value)


def _output(value: str | None, option: str, dash_ok: bool = True) -> Path | None:
    """An output option's path; `-` (stdout) is kept as None here and handled by the caller."""
    if value == DASH:
        if not dash_ok:
            raise click.BadParameter("- (stdout) is for --out; give a file", param_hint=option)
        return None
    if value is not None and value.strip() == "":  # Path("") is the current folder: `--out "$UNSET"`
        raise click.BadParameter("empty path", param_hint=option)
    return Path(value) if value is not None else None


def _check_dashes(out: str, **others: str | None) -> None:
    """Only one output can be stdout: two would interleave their lines."""
    for option, value in others.items():
        if value == DASH and out == DASH:
            raise click.UsageError(f"--out and {option} cannot both be - (stdout); write {option} to a file")


@contextmanager
def _stdout_utf8():
    """stdout for JSONL records: UTF-8 whatever the locale (the records are UTF-8 JSON, as a file output is), and
    flushed before the summary line goes to stderr so a terminal shows them in order."""
    stream: TextIO = sys.stdout
    if (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8" and hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8")
    yield stream
    stream.flush()


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


def _finish(report: JsonlReport, verb: str, report_opt: str | None) -> None:
    counts = ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items())) or "none"
    click.echo(f"{verb} {report.records} records; errors {report.errors}; dropped {report.dropped}; {counts}", err=True)
    if report.unkept:
        click.echo(
            f"lmforge: warning: {report.unkept} dropped or bad record(s) were not kept: with --out - there is no "
            "default rejects file; give --rejects FILE to keep them",
            err=True,
        )
    text = json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"
    if report_opt == DASH:
        click.echo(text, nl=False)
    elif report_opt is not None:
        Path(report_opt).write_text(text, encoding="utf-8")
    if report.errors:
        raise click.exceptions.Exit(1)


_common = [
    click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Run config (TOML, YAML or JSON); its [privacy] section is used.",
    ),
    click.option("--ner", is_flag=True, help="Also detect PERSON/ADDRESS (needs the 'ner' extra and a spaCy model)."),
    click.option(
        "--strict", is_flag=True, help="Stop at the first bad line (exit 2) instead of reporting and going on."
    ),
    click.option(
        "--report",
        "report_path",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Write counts per type and per source as JSON (- for stdout, when --out is a file).",
    ),
]


def _with_common(fn):
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.group(name="pii")
def command() -> None:
    """Detect or redact personal data in JSONL records {"id": ..., "text": ...} (.jsonl, .jsonl.gz, .jsonl.zst)."""


_INPUT = click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, allow_dash=True))


@command.command(name="scan")
@_INPUT
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Spans JSONL to write (- for stdout).",
)
@_with_common
def scan_command(
    input_path: str, out: str, config_path: Path | None, ner: bool, strict: bool, report_path: str | None
) -> None:
    """Write one line per record: {"id", "spans": [{"start", "end", "type"}]} (code-point offsets, end exclusive).
    INPUT - reads stdin."""
    _check_dashes(out, **{"--report": report_path})
    src, out_path = _input(input_path), _output(out, "--out")
    _check_outputs(src, out_path, _output(report_path, "--report"))
    config = _config(config_path, ner)
    with _stdout_utf8() if out_path is None else nullcontext() as stream:
        report = scan_jsonl(src, out_path or stream, config, strict=strict, on_error=_warn)
    _finish(report, "scanned", report_path)


@command.command(name="redact")
@_INPUT
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Redacted JSONL to write (- for stdout).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where dropped/bad records go [OUT.rejects.jsonl; with --out -, none unless given].",
)
@_with_common
def redact_command(
    input_path: str,
    out: str,
    rejects: str | None,
    config_path: Path | None,
    ner: bool,
    strict: bool,
    report_path: str | None,
) -> None:
    """Write each record with personal data in `text` replaced by typed placeholders (<EMAIL>, <PHONE>, …).
    INPUT - reads stdin."""
    _check_dashes(out, **{"--report": report_path})
    src, out_path, rejects_path = (
        _input(input_path),
        _output(out, "--out"),
        _output(rejects, "--rejects", dash_ok=False),
    )
    _check_outputs(src, out_path, rejects_path, _output(report_path, "--report"))
    config = _config(config_path, ner)
    with _stdout_utf8() if out_path is None else nullcontext() as stream:
        report = redact_jsonl(src, out_path or stream, config, rejects=rejects_path, strict=strict, on_error=_warn)
    _finish(report, "redacted", report_path)
