"""Training progress as a TrainerCallback: a rich bar (steps, loss, elapsed, remaining) on a terminal,
plain lines at most every 30 s when stderr is a file or a pipe (a rich bar draws nothing there)."""

from __future__ import annotations

import sys

from transformers import TrainerCallback

from evalkit.progress import PlainProgress, active_console, rich_bar


class RichProgress(TrainerCallback):
    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self.bar = None
        self.task = None
        self.plain: PlainProgress | None = None
        self.status = "starting"

    def on_train_begin(self, args, state, control, **kwargs):
        if self.quiet or not state.is_world_process_zero:
            return
        if not sys.stderr.isatty():
            self.plain = PlainProgress(self.label, lambda line: print(f"{line} · {self.status}", file=sys.stderr,
                                                                      flush=True))
            self.plain.update(state.global_step, state.max_steps)
            return
        self.bar = rich_bar(active_console(), bar_width=24, status=True)
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=state.max_steps, completed=state.global_step,
                                      status="starting")

    def on_step_end(self, args, state, control, **kwargs):
        # the last step's line waits for its loss: the trainer logs a step (on_log) after ending it
        if self.plain is not None and state.global_step < state.max_steps:
            self.plain.update(state.global_step, state.max_steps)
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        names = {"loss": "loss", "rewards/accuracies": "reward acc"}
        parts = [f"{name} {logs[key]:.3g}" for key, name in names.items() if key in logs]
        if parts:
            self.status = " · ".join(parts)
            if self.bar is not None:
                self.bar.update(self.task, status=self.status)
        if self.plain is not None and state.global_step >= state.max_steps:
            self.plain.update(state.global_step, state.max_steps)

    def on_train_end(self, args, state, control, **kwargs):
        if self.plain is not None:  # the last line, if no log came after the last step
            self.plain.update(state.global_step, state.max_steps)
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)
            self.bar.stop()
            self.bar = None
