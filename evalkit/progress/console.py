"""Terminal output: progress bars while work runs, tables when it is done (rich).

Rich bars draw only on a terminal; with output to a log file (`make run > run.log 2>&1`) progress
is printed as plain lines instead, at most every PLAIN_INTERVAL_S seconds: stage, done/total,
elapsed and ETA, so a log shows a long stage moving.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

from evalkit.progress import PLAIN_INTERVAL_S, PlainProgress, clock_text, counting  # noqa: F401 - part of the console's surface


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

    def progress(self, label: str):
        """A context giving update(done, total): evalkit.progress.counting on this console."""
        return counting(label, self.console, self.quiet)


def error(message: str) -> None:
    from rich.text import Text

    Console(stderr=True, highlight=False).print(Text("error: ", style="bold red") + Text(message), soft_wrap=True)
    sys.stderr.flush()
