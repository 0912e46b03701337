"""A tested run, for launcher.py: the tests and the candidate, each in a sandbox of its own.

    launcher ─┬─ tests side ── init ── inside/tests_side.py       (decides the verdict)
              └─ candidate side ── init ── inside/candidate_side.py
                    calls ──▶ / ◀── replies: two pipes, plain data only

Each side enters its own user, mount, pid, network, ipc and uts namespaces
(namespaces.enter), so the candidate cannot see, trace or signal the tests'
processes. The tests' side reports on the status pipe directly; the candidate's
side reports into a pipe of its own that the launcher relays after it ended,
under the candidate's name: nothing the candidate's side writes can pass for
the tests'. Once the tests have ended, the candidate gets a moment to end on
its own (its calls pipe is closed), then its namespace is killed.
Loaded by path from launcher.py: standard library only.
"""

from __future__ import annotations

import os
import signal
import time

CANDIDATE_GRACE_S = 0.5
RELAY_BYTES = 16384


def run(plan: dict, report, reporter, run_side, exit_child) -> int:
    calls_read, calls_write = os.pipe()
    replies_read, replies_write = os.pipe()
    relay_read, relay_write = os.pipe()
    candidate_plan = {**plan, "role": "candidate", "files": {"candidate.py": plan["files"]["candidate.py"]},
                      "extra_fds": [calls_read, replies_write], "host_work_dir": _own_dir(plan, "candidate")}
    tests_plan = {**plan, "role": "tests", "files": {name: plan["files"][name] for name in ("tests.py", "context.py")},
                  "extra_fds": [calls_write, replies_read], "host_work_dir": _own_dir(plan, "tests")}
    candidate = _fork_side(candidate_plan, lambda: reporter(relay_write), [calls_write, replies_read, relay_read,
                                                                            report.fd], run_side, exit_child)
    tests = _fork_side(tests_plan, lambda: reporter(os.dup(report.fd), "tests"),
                       [calls_read, replies_write, relay_read, relay_write], run_side, exit_child)
    for fd in (calls_read, calls_write, replies_read, replies_write, relay_write):
        os.close(fd)

    def stop(*_):
        for pid in (tests, candidate):
            _kill(pid)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    os.waitpid(tests, 0)
    lingered = _wait_or_kill(candidate, time.monotonic() + CANDIDATE_GRACE_S)
    relayed = _read_all(relay_read)
    report("candidate", lines=relayed.decode("utf-8", "replace"), lingered=lingered)
    return 0


def _own_dir(plan: dict, side: str) -> str:
    """Without namespaces the sides work in the host's temp dir: one folder each."""
    os.chmod(plan["host_work_dir"], 0o711)
    path = os.path.join(plan["host_work_dir"], side)
    os.mkdir(path, 0o700)
    return path


def _fork_side(plan: dict, make_reporter, close: list[int], run_side, exit_child) -> int:
    pid = os.fork()
    if pid == 0:
        for fd in close:
            os.close(fd)
        exit_child(run_side, plan, make_reporter())
    return pid


def _wait_or_kill(pid: int, deadline: float) -> bool:
    """True when the side had to be killed (still running at the deadline)."""
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
        time.sleep(0.002)
    _kill(pid)
    os.waitpid(pid, 0)
    return True


def _kill(pid: int) -> None:
    """The side's own SIGTERM handler ends its namespace (or, without one, its
    program's session); SIGKILL if it does not end soon after."""
    try:
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, ChildProcessError):
        pass


def _read_all(fd: int) -> bytes:
    chunks, total = [], 0
    while total < RELAY_BYTES:
        chunk = os.read(fd, RELAY_BYTES - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    os.close(fd)
    return b"".join(chunks)
