"""Finding and ending processes through /proc, for launcher.py: what a
program left behind, and (without a pid namespace) killing all of it.
Loaded by path: standard library only."""

from __future__ import annotations

import os
import signal
import time


def kill_descendants(session: int, deadline_s: float = 0.8) -> None:
    """Without a pid namespace: kill the program's session (one killpg: a fork
    bomb cannot outrun it) and whatever left it and came to us as orphans, until
    none of them is left, zombies included. `session` is the program's pid: it
    called setsid, so its pgid and sid are its pid (0: not started)."""
    me = os.getpid()
    end = time.monotonic() + deadline_s
    while True:
        if session:
            _signal(os.killpg, session)
        targets = [pid for pid, parent, sid, _ in _process_table() if parent == me or sid == session]
        if not targets or time.monotonic() > end:
            return
        for pid in targets:
            _signal(os.kill, pid)
        _reap_all()
        time.sleep(0.002)


def _signal(kill, target: int) -> None:
    try:
        kill(target, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def live_children() -> list[int]:
    """Live (not zombie) processes whose parent is this one; orphans count, since
    init and the subreaper both inherit them."""
    me = os.getpid()
    return [pid for pid, parent, _, state in _process_table() if parent == me and state != b"Z"]


def _process_table():
    """(pid, parent pid, session id, state) of every process we can see."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
            yield int(entry), int(fields[1]), int(fields[3]), fields[0]
        except (OSError, ValueError, IndexError):
            continue


def _reap_all() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return
