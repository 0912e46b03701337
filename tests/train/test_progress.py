"""Training progress in a log: plain lines with step, total, ETA and the latest loss, not an invisible bar."""

from types import SimpleNamespace

from evalkit.train.progress import RichProgress


def test_training_progress_is_plain_lines_when_stderr_is_not_a_terminal(capsys):
    progress = RichProgress("sft", quiet=False)
    state = SimpleNamespace(is_world_process_zero=True, global_step=0, max_steps=4)
    progress.on_train_begin(None, state, None)  # pytest's captured stderr is not a terminal
    progress.on_log(None, state, None, logs={"loss": 2.5})
    for step in range(1, 5):
        state.global_step = step
        progress.on_step_end(None, state, None)
    progress.on_train_end(None, state, None)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("sft: 0/4 (0%)") and lines[0].endswith("· starting")
    assert lines[-1].startswith("sft: 4/4 (100%)") and lines[-1].endswith("· loss 2.5")
    assert len(lines) == 2  # the first and the last; the ones between come at most every 30 s


def test_the_last_line_carries_the_last_steps_loss_as_the_curve_does(capsys):
    """The trainer ends a step (on_step_end) before it logs that step's loss (on_log): the last line must wait for
    it, or it shows the loss one step old while the plot's last point is this step's."""
    from transformers import TrainerState

    progress = RichProgress("sft", quiet=False)
    state = TrainerState(max_steps=3)
    progress.on_train_begin(None, state, None)
    history = []
    for step, loss in enumerate([2.0, 1.5, 1.39], start=1):
        state.global_step = step
        progress.on_step_end(None, state, None)
        history.append({"step": step, "loss": loss})
        progress.on_log(None, state, None, logs={"loss": loss})
    progress.on_train_end(None, state, None)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("sft: 3/3 (100%)") and lines[-1].endswith("· loss 1.39"), lines
    assert sum(line.startswith("sft: 3/3") for line in lines) == 1
