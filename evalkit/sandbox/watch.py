"""The host's side of one sandboxed run: read the supervisor's output and
status pipes, keep only the tails, stop it at the wall-clock deadline or the
output limit, and make sure nothing of it is left."""

from __future__ import annotations

import ast
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field

TAIL_BYTES = 4096
_STOP_GRACE_S = 1.5  # how long the supervisor gets to clean up before SIGKILL
_LEFTOVER_GRACE_S = 0.2  # output still arriving after the supervisor ended


@dataclass
class Collected:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    output_bytes: int = 0
    status_lines: bytearray = field(default_factory=bytearray)
    stopped_by_host: str | None = None


def watch(process: subprocess.Popen, status_read: int, deadline: float, output_bytes: int) -> Collected:
    """Read output and status until the supervisor is done, enforcing the wall
    clock (a time.monotonic() deadline) and the output limit; then stop it."""
    collected = Collected()
    selector = selectors.DefaultSelector()
    streams = {process.stdout.fileno(): collected.stdout, process.stderr.fileno(): collected.stderr}
    for fd in (*streams, status_read):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    leftover_deadline = None
    try:
        while selector.get_map():
            now = time.monotonic()
            if now >= deadline:
                collected.stopped_by_host = "timeout"
                break
            if leftover_deadline is None and _has_exited(process.pid):
                leftover_deadline = now + _LEFTOVER_GRACE_S
            if leftover_deadline is not None and now >= leftover_deadline:
                break
            for key, _ in selector.select(timeout=min(0.05, deadline - now)):
                _read_into(key.fd, selector, streams, collected, status_read)
            if collected.output_bytes > output_bytes:
                collected.stopped_by_host = "output_limit"
                break
    finally:
        selector.close()
        _stop(process, parse_events(collected.status_lines))
    return collected


def _read_into(fd: int, selector, streams: dict, collected: Collected, status_read: int) -> None:
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return
    if not chunk:
        selector.unregister(fd)
        return
    if fd == status_read:
        collected.status_lines += chunk
        return
    collected.output_bytes += len(chunk)
    tail = streams[fd]
    tail += chunk
    del tail[:-TAIL_BYTES]


def _has_exited(pid: int) -> bool:
    """Without reaping: the zombie keeps its pid (and process group) reserved."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _stop(process: subprocess.Popen, events: dict) -> None:
    """Ask the supervisor to end everything, then kill its whole process group
    (and, without namespaces, the program's session if the supervisor died
    before it could)."""
    if not _has_exited(process.pid):
        os.kill(process.pid, signal.SIGTERM)  # not send_signal: it would reap the pid
        end = time.monotonic() + _STOP_GRACE_S
        while not _has_exited(process.pid) and time.monotonic() < end:
            time.sleep(0.005)
    groups = [process.pid]  # safe: the unreaped supervisor holds the id
    for prefix in ("", "tests.", "candidate."):  # without namespaces: the programs' own sessions
        if f"{prefix}started" in events and f"{prefix}exit" not in events:
            groups.append(events[f"{prefix}started"]["session"])
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()
    process.stdout.close()
    process.stderr.close()


def parse_events(raw: bytes) -> dict:
    """The last event of each kind: "exit", or for a tested run "tests.exit",
    and the candidate side's own events, relayed by the launcher inside one
    "candidate" event, as "candidate.exit" (whatever side they claim)."""
    events: dict = {}
    for event in _event_lines(raw.decode("utf-8", "replace")):
        if event["event"] == "candidate" and "side" not in event:
            for inner in _event_lines(str(event.get("lines", ""))):
                events[f"candidate.{inner['event']}"] = inner
            events["candidate.lingered"] = event.get("lingered") is True
        elif "side" in event:
            events[f"{event['side']}.{event['event']}"] = event
        else:
            events[event["event"]] = event
    return events


def _event_lines(text: str):
    for line in text.splitlines():
        try:
            event = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            yield event
