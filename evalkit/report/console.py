"""Terminal output: progress bars while work runs, tables when it is done (rich)."""

from __future__ import annotations

import sys
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
        with self.console.status(f"{label}…"):
            result = fn(*args, **kwargs)
        self.console.print(f"[green]✓[/] {label}")
        return result

    @contextmanager
    def progress(self, label: str):
        if self.quiet:
            yield lambda done, total: None
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
