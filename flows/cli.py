"""The `lmforge` console script. Each command group lives in `flows/commands/<name>.py`; this file only wires them.

User mistakes (LmforgeError) print one line and exit 2; never a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from lmforge.pipeline.errors import LmforgeError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="lmforge")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def cli(verbose: bool) -> None:
    """lmforge: raw text corpora → curated snapshot → tokenizer → shards → trained, registered model."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


class _NoUserErrorTraceback(logging.Filter):
    """Prefect logs the exception that fails a flow or task run with its traceback; when it is a user mistake
    (LmforgeError) the record keeps its one-line message and drops the traceback, which the CLI never shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], LmforgeError):
            record.exc_info = None
            record.exc_text = None
        return True


_USER_ERROR_FILTER = _NoUserErrorTraceback()


def _register() -> None:
    from lmforge.flows.commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    from lmforge.flows import env

    env.configure(env.workspace_from_argv(sys.argv[1:] if argv is None else argv))
    _register()
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_USER_ERROR_FILTER)  # once: addFilter skips a filter already there
    try:
        rc = cli.main(args=argv, standalone_mode=False)
        if isinstance(rc, int) and not isinstance(rc, bool):  # click returns Exit(n).exit_code here
            return rc
    except LmforgeError as exc:
        click.echo(f"lmforge: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:  # Ctrl-C: stage outputs are atomic, so nothing half-written is left as done
        click.echo(
            "lmforge: aborted; finished work is kept and the same command goes on from it "
            "(`lmforge train` with --resume)",
            err=True,
        )
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
