"""A live progress bar over the rows of each pass (``verbose=2``), drawn with rich."""

from __future__ import annotations

import sys


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class PassProgress:
    """One bar per pass over the data; a no-op when rich is missing or output is not wanted.

    A bar is drawn only on a terminal: in a log file or a pipe a bar redrawn per pass is noise,
    and ``verbose``'s plain per-pass lines say the same.
    """

    def __init__(self, enabled, n_rows):
        self._progress = None
        self._task = None
        self.n_rows = n_rows
        if not enabled or not _is_terminal(sys.stderr):
            return
        try:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:  # pragma: no cover - rich comes with keras, but stay optional
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[elbo]}"),
            transient=False,
            # progress goes to stderr, so that piped stdout stays clean
            console=None if sys.stderr is None else _stderr_console(),
        )
        self._progress.start()

    def start_pass(self, n_iter, phase):
        if self._progress is not None:
            self._task = self._progress.add_task(
                f"pass {n_iter:>3} ({phase})", total=self.n_rows, elbo=""
            )

    def advance(self, rows):
        if self._task is not None:
            self._progress.advance(self._task, rows)

    def end_pass(self, elbo):
        if self._task is not None:
            self._progress.update(self._task, elbo=f"ELBO {elbo:.6f}")

    def close(self):
        if self._progress is not None:
            self._progress.stop()


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)
