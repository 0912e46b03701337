"""The real `evalkit vote` in a real terminal (tmux), driven by key presses as a person would:
first screen → votes stored → kill -9 → restart continues → quit."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from voting_project import CODEWORDS, write_project

from evalkit.store.db import Store
from evalkit.vote.app import MIN_VIEW_S
from evalkit.vote.votes import votes

REPO = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed (apt-get install -y tmux); this test drives the app in it")
WAIT_S = 90  # generous: the app starts in about a second, but CI machines can be loaded


class Terminal:
    """One tmux server of our own (its own socket), one session, one pane running the app."""

    def __init__(self, width: int, height: int):
        self.socket = f"evalkit-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        # -u and a UTF-8 locale: box drawing and "·" come through capture-pane intact.
        self.env = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONPATH": str(REPO)}

    def tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([TMUX, "-u", "-L", self.socket, *args], capture_output=True, text=True,
                                env=self.env, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def start(self, project: Path, *vote_args: str) -> None:
        command = (f"cd {project} && exec {sys.executable} -m evalkit --config evalkit.toml vote "
                   + " ".join(vote_args))
        self.tmux("new-session", "-d", "-s", "vote", "-x", str(self.width), "-y", str(self.height), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "vote")

    def wait_for(self, pattern: str, present: bool = True) -> str:
        """The screen once `pattern` is on it (or gone from it) and it has stopped changing:
        a capture can land halfway through a redraw."""
        deadline, previous = time.monotonic() + WAIT_S, None
        while time.monotonic() < deadline:
            screen = self.screen() if self.alive() else ""
            if bool(re.search(pattern, screen)) == present and screen == previous:
                return screen
            previous = screen
            time.sleep(0.15)
        state = "appear" if present else "go away"
        raise AssertionError(f"{pattern!r} did not {state} within {WAIT_S} s; the screen shows:\n{screen}")

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "vote", *keys)

    def vote(self, key: str) -> None:
        time.sleep(MIN_VIEW_S)  # as a reader would: the app ignores votes on a pair shown for less
        self.send(key)

    def pane_pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", "vote", "#{pane_pid}").strip())

    def alive(self) -> bool:
        return subprocess.run([TMUX, "-L", self.socket, "has-session", "-t", "vote"], capture_output=True,
                              env=self.env).returncode == 0

    def wait_closed(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.alive():
            assert time.monotonic() < deadline, f"the app did not exit within {WAIT_S} s"
            time.sleep(0.1)

    def close(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def terminal(request):
    width, height = getattr(request, "param", (200, 50))
    term = Terminal(width, height)
    yield term
    term.close()


def shown_pair(screen: str, width: int) -> tuple[str, str, str]:
    """(prompt number, model on the left, model on the right) read off the screen by the codewords."""
    found = {}
    for line in screen.splitlines():
        for model, word in CODEWORDS.items():
            for match in re.finditer(rf"{word}-(\d+)", line):
                found["left" if match.start() < width // 2 else "right"] = (match.group(1), model)
    assert set(found) == {"left", "right"}, f"expected one answer on each side; the screen shows:\n{screen}"
    assert found["left"][0] == found["right"][0], "the two answers belong to different prompts"
    return found["left"][0], found["left"][1], found["right"][1]


def test_vote_kill_restart_continue(tmp_path, terminal):
    project = write_project(tmp_path, n_prompts=4).parent  # 3 models x 4 prompts = 12 pairs
    terminal.start(project, "--annotator", "alice")
    screen = terminal.wait_for(r"pairs left")
    assert "alice · 0 votes · 12 of 12 pairs left" in screen
    assert "Prompt · chat / p0" in screen and "Question" in screen
    assert re.search(r"╭─ A ─+╮╭─ B ─", screen), screen
    assert "a A better" in screen and "q Quit" in screen
    assert not re.search(r"\b(base|sft|dpo)\b", screen), f"a model name is on screen:\n{screen}"

    prompt, left, right = shown_pair(screen, terminal.width)
    terminal.vote("a")
    screen = terminal.wait_for(r"1 vote · 11 of 12 pairs left")
    [first] = votes(Store(project / "store.db"))
    assert (first.prompt_id, first.model_left, first.model_right, first.winner) == (f"p{int(prompt):02d}", left,
                                                                                   right, "left")
    voted = {(prompt, *sorted((left, right)))}
    prompt, left, right = shown_pair(screen, terminal.width)
    voted.add((prompt, *sorted((left, right))))
    terminal.vote("b")
    terminal.wait_for(r"2 votes · 10 of 12 pairs left")

    os.kill(terminal.pane_pid(), signal.SIGKILL)
    terminal.wait_closed()
    stored = votes(Store(project / "store.db"))
    assert [v.winner for v in stored] == ["left", "right"]

    terminal.start(project, "--annotator", "alice")
    screen = terminal.wait_for(r"pairs left")
    assert "2 votes · 10 of 12 pairs left" in screen
    prompt, left, right = shown_pair(screen, terminal.width)
    assert (prompt, *sorted((left, right))) not in voted, "a pair already voted on was shown again"
    terminal.send("q")
    terminal.wait_closed()
    assert len(votes(Store(project / "store.db"))) == 2


@pytest.mark.parametrize("terminal", [(100, 30)], indirect=True)
def test_small_terminal_shows_everything(tmp_path, terminal):
    project = write_project(tmp_path, n_prompts=2).parent
    terminal.start(project, "--annotator", "bob")
    screen = terminal.wait_for(r"pairs left")
    lines = screen.splitlines()
    assert len(lines) <= 30
    assert re.search(r"╭─ A ─+╮╭─ B ─+╮", screen), screen  # side by side, both fully drawn
    assert any("bob · 0 votes · 6 of 6 pairs left" in line for line in lines)
    assert any("next pairs:" in line for line in lines)
    assert any("a A better" in line and "q Quit" in line for line in lines)
    shown_pair(screen, terminal.width)
    terminal.send("?")
    screen = terminal.wait_for(r"Press any key to close")
    assert "skip this pair" in screen and "undo your last vote" in screen
    terminal.send("Escape")
    terminal.wait_for(r"Press any key to close", present=False)
    terminal.send("q")
    terminal.wait_closed()
