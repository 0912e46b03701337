"""Terminal output: progress bars while work runs, tables when it is done (rich).

Rich bars draw only on a terminal; with output to a log file (`make run > run.log 2>&1`) progress
is printed as plain lines instead, at most every PLAIN_INTERVAL_S seconds: stage, done/total,
elapsed and ETA, so a log shows a long stage moving.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


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


def quiet_third_party_progress(debug: bool = False) -> None:
    """transformers' and huggingface_hub's own tqdm bars ("Loading weights", "Converting and de-quantizing
    GGUF tensors") off unless --debug: evalkit shows its own progress. Environment variables, read when
    those libraries are imported, so setting them costs no import; a user's own setting wins."""
    if debug:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' bars follow huggingface_hub's
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF conversion calls tqdm.auto directly


class ConsoleUI:
    def __init__(self, quiet: bool = False):
        self.console = Console(stderr=True)
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message)

    def note(self, message: str) -> None:
        """Said even when quiet: what the run does differently from what its config says."""
        self.console.print(f"[dim]note:[/] {message}")

    def step(self, label: str, fn, *args, **kwargs):
        if self.quiet:
            return fn(*args, **kwargs)
        if not self.console.is_terminal:  # no spinner in a log: say when a long step starts
            self.console.print(f"{label}…", highlight=False)
        with self.console.status(f"{label}…"):
            result = fn(*args, **kwargs)
        self.console.print(f"[green]✓[/] {label}")
        return result

    @contextmanager
    def progress(self, label: str):
        if self.quiet:
            yield lambda done, total: None
            return
        if not self.console.is_terminal:
            plain = PlainProgress(label, lambda text: self.console.print(text, highlight=False, soft_wrap=True))
            yield plain.update
            return
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("eta"), TimeRemainingColumn(), console=self.console, transient=False)
        with bar:
            task_id = bar.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task_id, completed=done, total=total)

            yield update


def error(message: str) -> None:
    from rich.text import Text

    Console(stderr=True, highlight=False).print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    sys.stderr.flush()
