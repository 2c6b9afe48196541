"""The terminal progress bar of the long flows (curate: files, backfill: days).

On a terminal a tqdm bar is drawn on stderr; log lines printed while it is open (Prefect's console handler, the
CLI's own) are written above it through `tqdm.write`, so they neither break the bar nor leave half-drawn copies of
it between them. Elsewhere (CI, pipes, files, Prefect workers) there is no bar and logging is untouched.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(total: int, desc: str, unit: str) -> Iterator[Any | None]:
    """A tqdm bar when stderr is a terminal, else None; see the module docstring."""
    # No stderr at all (None: the process started with descriptor 2 closed, `… 2>&-`, as some daemons do) or a
    # closed one (isatty raises ValueError) is no terminal either; the work must not fail on its progress bar.
    try:
        terminal = sys.stderr is not None and sys.stderr.isatty()
    except ValueError:
        terminal = False
    if not terminal:
        yield None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr) as bar, logging_redirect_tqdm([logging.getLogger()]):
        yield bar
