"""Progress of ``kizuki simulate``: a live bar on a terminal, plain lines in a log.

On a terminal the rich bar redraws in place and disappears at the end. When stderr is
not a terminal (CI, ``nohup``, ``| tee``, systemd) a redrawn bar would show nothing
useful, so a plain line goes to stderr every ``every_s`` seconds and at each tenth of
the run::

    publishing: 432/4,320 ticks (10%), 4,280,000 readings, 51,230 readings/s, 83.5 s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Advance = Callable[[int, int, int], None]  # ticks done, ticks in total, readings so far


class PlainProgress:
    """Prints a line when ``every_s`` seconds passed or another tenth of the run is done."""

    def __init__(
        self,
        label: str,
        out: TextIO,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.out, self.every_s, self.clock = label, out, every_s, clock
        self.started = self.last_line = clock()
        self.next_tenth = 1

    def __call__(self, done: int, total: int, readings: int) -> None:
        now = self.clock()
        tenth = 10 * done // total if total else 10
        if tenth < self.next_tenth and now - self.last_line < self.every_s:
            return
        self.next_tenth = max(self.next_tenth, tenth + 1)
        self.last_line = now
        self.out.write(line(self.label, done, total, readings, now - self.started) + "\n")
        self.out.flush()


def line(label: str, done: int, total: int, readings: int, elapsed: float) -> str:
    share = 100.0 * done / total if total else 100.0
    rate = readings / elapsed if elapsed > 0 else 0.0
    return (
        f"{label}: {done:,}/{total:,} ticks ({share:.0f}%), {readings:,} readings, "
        f"{rate:,.0f} readings/s, {elapsed:.1f} s"
    )


@contextmanager
def progress(label: str, console: Console | None = None) -> Iterator[Advance]:
    """An ``Advance`` callback: a bar on a terminal, else ``PlainProgress`` on stderr."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield PlainProgress(label, sys.stderr)
        return
    columns = (
        f"[bold]{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[readings]:,} readings"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None, readings=0)

        def advance(done: int, total: int, readings: int) -> None:
            bar.update(task, completed=done, total=total, readings=readings)

        yield advance
