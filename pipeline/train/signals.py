"""Stopping a training run by signal: SIGTERM (how torchrun stops its workers, forwarding its own SIGTERM or SIGINT,
and how `lmforge train` stops torchrun on Ctrl-C) and SIGINT raise `Stopped` in the training loop, so the run closes
its MLflow run as KILLED. Python's default for SIGTERM ends the process with no clean-up at all: the MLflow run stayed
RUNNING for good. Nothing is saved on the way out: the last checkpoint stays, and a resume continues from it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(KeyboardInterrupt):
    """A signal stopped training; a KeyboardInterrupt, so that code catching Ctrl-C treats SIGTERM the same."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


class StopSignals:
    """While entered (in the main thread; elsewhere Python allows no handlers and it does nothing): the first SIGTERM
    or SIGINT raises `Stopped`. Later ones, and any that arrive once `closing` is set (the run is being closed: the
    MLflow run ended, run.json written), wait for the close to finish: cut short, it left the MLflow run RUNNING. One
    that waited is raised on exit, unless an exception is on its way out already."""

    def __init__(self) -> None:
        self.closing = False
        self._pending: list[int] = []
        self._previous: dict[int, Any] = {}
        self._deferring = 0

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A signal that arrives inside waits until the block is left, then raises `Stopped` there. For calls into
        the tracking store: raised inside one (a SQLite `log_batch`), it left the store's session broken, so ending
        the run failed too and it stayed RUNNING."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending and not self.closing:
            self.closing = True
            raise Stopped(self._pending.pop(0))

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        if self._pending and exc_type is None:
            raise Stopped(self._pending[0])

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring and not self.closing:
            self._pending.append(signum)  # raised when the store call returns (`deferred`)
            return
        if self.closing:
            log.warning("%s: the run is being closed; it stops once that is done", signal.Signals(signum).name)
            self._pending.append(signum)
            return
        self.closing = True  # raised once: a second signal must not cut the clean-up short
        raise Stopped(signum)
