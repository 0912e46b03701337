"""Which process owns a run, whether it is still alive, and which earlier run a rerun continues.

A run row says `running` from its start until its process marks it finished, failed or interrupted.
A process killed outright (kill -9, a lost machine, SIGTERM without a handler) marks nothing, so
each run records its process (host, pid, and the pid's start time, which tells a reused pid from
the original); a `running` run whose process is gone is shown as `interrupted`. A rerun of the same
command (same config, flags, model fingerprints, task files and data) continues an interrupted run
under the same id: its cached responses make the rerun cost only what was not finished.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

from evalkit.types import stable_hash

RESUMABLE = ("running", "interrupted")


def this_process() -> tuple[str, int, str]:
    """(host, pid, start time of the pid) of this process."""
    return socket.gethostname(), os.getpid(), start_ticks(os.getpid())


def start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), '' where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before ')' may hold spaces


def alive(host: str, pid: int, ticks: str) -> bool | None:
    """Whether the process is still running; None when it ran on another machine (cannot be asked)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return not ticks or start_ticks(pid) in ("", ticks)


def status(stored: str, owner: tuple[str, int, str] | None) -> str:
    """What a run's state is now: a `running` run whose process has died is `interrupted`."""
    if stored != "running" or owner is None:
        return stored
    state = alive(*owner)
    if state is None:
        return f"running (on {owner[0]})"
    return "running" if state else "interrupted"


def owner(db: sqlite3.Connection, run_id: int) -> tuple[str, int, str] | None:
    row = db.execute("SELECT host, pid, ticks FROM run_processes WHERE run_id=?", (run_id,)).fetchone()
    return (row[0], int(row[1]), row[2]) if row else None


def command_key(config: dict[str, Any], provenance: dict[str, Any]) -> str:
    """What makes two runs the same work: the config and flags, and what the models and tasks are."""
    models = {name: m.get("fingerprint") for name, m in (provenance.get("models") or {}).items()}
    tasks = {name: [t.get("version"), t.get("content_hash"), t.get("data_hash"), t.get("options")]
             for name, t in (provenance.get("tasks") or {}).items()}
    return stable_hash({"config": config, "command_line": provenance.get("command_line"), "models": models,
                        "tasks": tasks, "seed": provenance.get("seed")})


def resumable(db: sqlite3.Connection, key: str) -> int | None:
    """The latest run of the same work that did not finish and whose process is gone, if any."""
    rows = db.execute(
        "SELECT r.id, r.status, p.host, p.pid, p.ticks FROM runs r JOIN run_processes p ON p.run_id = r.id "
        f"WHERE p.command_key=? AND r.status IN ({','.join('?' * len(RESUMABLE))}) ORDER BY r.id DESC LIMIT 1",
        (key, *RESUMABLE)).fetchall()
    for run_id, stored, host, pid, ticks in rows:
        if status(stored, (host, int(pid), ticks)) == "interrupted":
            return int(run_id)
    return None


def claim(db: sqlite3.Connection, run_id: int, key: str, resumed: bool) -> None:
    """Record this process as the run's owner (inside the caller's transaction)."""
    host, pid, ticks = this_process()
    db.execute("INSERT INTO run_processes (run_id, host, pid, ticks, command_key, resumed) VALUES (?,?,?,?,?,0) "
               "ON CONFLICT(run_id) DO UPDATE SET host=excluded.host, pid=excluded.pid, ticks=excluded.ticks, "
               "resumed=resumed + ?", (run_id, host, pid, ticks, key, int(resumed)))


def resumed_count(db: sqlite3.Connection, run_id: int) -> int:
    row = db.execute("SELECT resumed FROM run_processes WHERE run_id=?", (run_id,)).fetchone()
    return int(row[0]) if row else 0
