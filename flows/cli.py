"""The `lmforge` console script. Each command group lives in `flows/commands/<name>.py`; this file only wires them.

User mistakes (LmforgeError) print one line and exit 2; never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from lmforge.pipeline.errors import LmforgeError

#: Exit status when the reader of stdout went away (`lmforge … | head -1`): 128 + SIGPIPE, what a shell reports for
#: `cat`, `grep` and the other Unix tools, which SIGPIPE kills. Not 0, since the output was cut short and
#: `set -o pipefail` scripts should see that as they do for those tools; not 1, the code for "something failed".
EXIT_STDOUT_CLOSED = 128 + 13


class StdoutClosed(Exception):
    """stdout's reader is gone. Raised in place of BrokenPipeError, which click's `main` would catch itself and turn
    into a silent exit 1 (it is an OSError)."""


def _stdout_gone() -> bool:
    """Whether stdout is a pipe (or socket) whose reader is gone: a BrokenPipeError can also come from a socket to a
    server (Prefect, MLflow, Redis), which must not pass for `| head`. Linux and macOS report a pipe without readers
    as POLLERR to poll(). A stdout without a descriptor (a test's capture) cannot be asked: no."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both of the first two
        return False
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _closed_stdout(exc: BrokenPipeError) -> Exception:
    """The exception to raise for `exc`: `StdoutClosed`, or for another pipe an error click does not swallow."""
    if _stdout_gone():
        return StdoutClosed()
    return RuntimeError(f"broken pipe (not stdout): {exc}")


class _Group(click.Group):
    """The top-level group: a closed stdout while parsing (`--help`, `--version`) or running a command is
    `StdoutClosed`."""

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError as exc:
            raise _closed_stdout(exc) from exc

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _closed_stdout(exc) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
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
    import warnings

    from lmforge.flows import env

    # Prefect makes its home (PREFECT_HOME: <workspace>/.prefect without a server) when first imported, and warns when
    # it cannot. A command may import it while checking its arguments, before it makes the workspace: that is
    # `ensure_workspace`'s job, which says in one line when the folder cannot be made or written. The warning was a
    # second, misleading line under a usage error ("Failed to create the Prefect home directory at W/.prefect").
    warnings.filterwarnings("ignore", message="Failed to create the Prefect home directory", category=UserWarning)
    if os.environ.get("LMFORGE_WORKSPACE") == "":  # set but empty (`${WS:-}`) is unset, as in shell defaults: not "."
        del os.environ["LMFORGE_WORKSPACE"]
    env.configure(env.workspace_from_argv(sys.argv[1:] if argv is None else argv))
    _register()
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_USER_ERROR_FILTER)  # once: addFilter skips a filter already there
    try:
        rc = cli.main(args=argv, prog_name="lmforge", standalone_mode=False)
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe is an "Exception ignored" message
        if isinstance(rc, int) and not isinstance(rc, bool):  # click returns Exit(n).exit_code here
            return rc
    except StdoutClosed:
        _discard_stdout()
        return EXIT_STDOUT_CLOSED
    except BrokenPipeError:  # from the flush above: stdout's, unless poll says otherwise
        if not _stdout_gone():
            raise
        _discard_stdout()
        return EXIT_STDOUT_CLOSED
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
    except click.exceptions.NoArgsIsHelpError as exc:  # `lmforge pii`: the group's help, as click shows it
        exc.show()
        return exc.exit_code
    except click.UsageError as exc:  # a bad option value or a typo'd command: one line, like our own errors
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"lmforge: error: {exc.format_message()}{where}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def _discard_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so what is still buffered is flushed there at exit instead of
    failing again (Python's docs on SIGPIPE recommend this). Not possible for a stdout with no descriptor (tests)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        pass


if __name__ == "__main__":
    sys.exit(main())
