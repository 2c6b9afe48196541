"""The terminal progress bar: none off a terminal; on one, log lines printed meanwhile stay whole, above the bar."""

from __future__ import annotations

import io
import logging

import pytest

from lmforge.flows.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_off_a_terminal(monkeypatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with progress_bar(3, "curate", "file") as bar:
        assert bar is None


@pytest.mark.parametrize("stream", [None, "closed"])
def test_no_bar_without_a_stderr(monkeypatch, stream) -> None:
    """Started with descriptor 2 closed (`lmforge backfill … 2>&-`), Python has no sys.stderr: the bar's check
    raised AttributeError and the backfill died before its first day (a closed stream raised ValueError)."""
    if stream == "closed":
        stream = io.StringIO()
        stream.close()
    monkeypatch.setattr("sys.stderr", stream)
    with progress_bar(3, "backfill", "day") as bar:
        assert bar is None


def test_log_lines_go_above_the_bar_on_a_terminal(monkeypatch) -> None:
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    root = logging.getLogger()
    handler = logging.StreamHandler(term)  # what a console handler is: a stream handler on stderr
    handler.setFormatter(logging.Formatter("%(levelname)s | %(message)s"))
    monkeypatch.setattr(root, "handlers", [handler])
    log = logging.getLogger("lmforge.test_progress")
    with progress_bar(3, "curate", "file") as bar:
        for i in range(3):
            log.warning("unit %d done", i)
            bar.update(1)
    assert root.handlers == [handler]  # restored after the bar
    out = term.getvalue()
    for i in range(3):
        # A whole line of its own: the bar was cleared (\r) before it and it ends in a newline.
        assert f"\rWARNING | unit {i} done\n" in out
    assert "3/3" in out.rsplit("\n", 1)[-1] or "3/3" in out.splitlines()[-1]
