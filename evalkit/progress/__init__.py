"""What a command shows while it works: progress bars on a terminal, plain lines at a bounded rate in a log.

The lowest layer, beside config and errors: the console every command writes to (console.py: ConsoleUI,
one-line errors) and the training callback (train/progress.py) both print through it, so a run captured
in a file shows its stage, done/total and ETA every half minute instead of nothing until it ends.

    console.py   ConsoleUI (steps, notes, progress bars) and the one-line error every command ends with
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PLAIN_INTERVAL_S = 30.0


def clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class PlainProgress:
    """Progress as plain lines for a log: the first update, then at most one line every `interval`
    seconds, and the last one (done == total) always."""

    def __init__(self, label: str, write: Callable[[str], None], interval: float = PLAIN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.write, self.interval, self.clock = label, write, interval, clock
        self.started = clock()
        self.last_line: float | None = None
        self.finished = False

    def update(self, done: int, total: int | None) -> None:
        now = self.clock()
        complete = total is not None and done >= total
        due = self.last_line is None or now - self.last_line >= self.interval
        if self.finished or not (due or complete):
            return
        self.last_line, self.finished = now, complete
        self.write(self.line(done, total, now - self.started))

    def line(self, done: int, total: int | None, elapsed: float) -> str:
        if not total:
            return f"{self.label}: {done} done · elapsed {clock_text(elapsed)}"
        eta = elapsed / done * (total - done) if done else None
        return (f"{self.label}: {done}/{total} ({done / total:.0%}) · elapsed {clock_text(elapsed)} · "
                f"eta {'?' if eta is None else clock_text(eta)}")


def active_console():
    """The rich console that is drawing right now, so a bar nests inside it instead of fighting it.

    `evalkit run` prepares models under a rich status spinner, which redirects stderr through a
    FileProxy bound to its console; drawing on that same console lets rich stack the two displays.
    """
    from rich.console import Console

    console = getattr(sys.stderr, "_FileProxy__console", None)
    return console if isinstance(console, Console) else Console(stderr=True)


@contextmanager
def counting(label: str, console=None, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """An update(done, total) for work counted in items: a rich bar on a terminal, plain lines in a log
    (PlainProgress), nothing when quiet. `console`: the rich console to draw on (default: active_console)."""
    if quiet:
        yield lambda done, total: None
        return
    console = console or active_console()
    if not console.is_terminal:
        plain = PlainProgress(label, lambda text: console.print(text, highlight=False, soft_wrap=True))
        yield plain.update
        return
    bar = rich_bar(console)
    with bar:
        task_id = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task_id, completed=done, total=total)


def rich_bar(console, bar_width: int = 40, status: bool = False):
    """evalkit's one bar layout: label, bar, done/total, elapsed, eta (and a status field when asked)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(bar_width=bar_width), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(*columns, console=console, transient=False)
