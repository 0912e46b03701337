"""Progress in a log: plain lines at a bounded rate; third-party bars off unless --debug."""

import io
import os
import subprocess
import sys

from rich.console import Console

from evalkit.progress import console as ui


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plain_progress_prints_first_then_every_interval_and_the_end():
    lines, clock = [], Clock()
    progress = ui.PlainProgress("base · mmlu", lines.append, interval=30, clock=clock)
    for second, done in ((0, 0), (10, 10), (29, 20), (31, 30), (50, 40), (62, 50), (70, 100), (71, 100)):
        clock.now = second
        progress.update(done, 100)
    assert lines == ["base · mmlu: 0/100 (0%) · elapsed 0:00:00 · eta ?",
                     "base · mmlu: 30/100 (30%) · elapsed 0:00:31 · eta 0:01:12",
                     "base · mmlu: 50/100 (50%) · elapsed 0:01:02 · eta 0:01:02",
                     "base · mmlu: 100/100 (100%) · elapsed 0:01:10 · eta 0:00:00"]


def test_console_ui_writes_plain_lines_when_not_on_a_terminal():
    out = io.StringIO()
    screen = ui.ConsoleUI()
    screen.console = Console(file=out, force_terminal=False, width=200)
    with screen.progress("sft · gsm8k") as update:
        update(0, 4)
        update(4, 4)
    assert screen.step("building sft", lambda: 7) == 7
    text = out.getvalue()
    assert "sft · gsm8k: 0/4 (0%)" in text and "sft · gsm8k: 4/4 (100%)" in text
    assert "building sft…" in text and "✓ building sft" in text
    assert "\r" not in text and "\x1b[" not in text  # no bar redraws, no escape codes in a log


def test_counting_draws_a_bar_on_a_terminal_and_nothing_when_quiet():
    out = io.StringIO()
    with ui.counting("teacher answers", Console(file=out, force_terminal=True, width=120)) as update:
        update(3, 8)
    assert "teacher answers" in out.getvalue() and "3/8" in out.getvalue()
    quiet = io.StringIO()
    with ui.counting("teacher answers", Console(file=quiet), quiet=True) as update:
        update(3, 8)
    assert quiet.getvalue() == ""


def test_third_party_bars_are_off_unless_debug(monkeypatch):
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"):
        monkeypatch.delenv(name, raising=False)
    ui.quiet_third_party_progress(debug=True)
    assert "TQDM_DISABLE" not in os.environ
    ui.quiet_third_party_progress(debug=False)
    assert os.environ["TQDM_DISABLE"] == "1" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    # tqdm reads TQDM_* when it is first imported, so check in a process where evalkit's CLI set it first
    # (in this one an earlier test may have imported it already)
    check = subprocess.run([sys.executable, "-c", "import os; from evalkit.progress.console import "
                            "quiet_third_party_progress as q; q(); from tqdm.auto import tqdm; "
                            "print(tqdm(range(3)).disable)"], capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "HF_HUB_DISABLE"))})
    assert check.stdout.strip() == "True", check.stderr  # the GGUF conversion's bar reads this
