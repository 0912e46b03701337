"""Run untrusted, model-written Python, contained, and say how each run ended.

    outcome = run_test(humaneval_test(prompt, completion, test, entry_point), Limits(wall_seconds=3))
    outcome.passed, outcome.status, outcome.reason   # False, "timeout", "wall-clock limit 3s exceeded"

run_test / run_tests are how code is scored: the tests run in a sandboxed
process of their own and call the candidate, which runs in another, through
pipes that carry plain data only (tested.py, inside/tests_side.py); the verdict is
the tests' process's alone. run_program / run_programs run one whole program:
"passed" there means it ran to its end with status 0, which a hostile program
can fake, so it is for containment, never for a score.

Each sandbox, where Linux allows (as root or as a normal user), has new user,
mount, network, pid, ipc and uts namespaces: no network, a new root that holds
only the interpreter and its libraries read-only, a private size- and
inode-limited /tmp as its work dir and a small /dev/shm, a fresh session
keyring, an empty environment, an unprivileged uid, and every process it
starts killed when it ends. RLIMITs bound CPU time, address space, file size
and processes; a memory cgroup bounds all of a run's memory where the machine
gives one; this side bounds wall-clock time and output. Where a mechanism is
unavailable a weaker fallback is used and containment_report() says which.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from evalkit.sandbox.code_tests import CodeTest, assert_test, humaneval_test
from evalkit.sandbox.host import run_once
from evalkit.system.memory import available_memory

__all__ = ["CodeTest", "Limits", "Outcome", "assert_test", "containment_report", "humaneval_test", "run_program",
           "run_programs", "run_test", "run_tests"]

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


def run_test(test: CodeTest, limits: Limits = Limits()) -> Outcome:
    return _run_tested(test, limits)[0]


def run_tests(tests: Sequence[CodeTest], limits: Limits = Limits(), workers: int | None = None,
              progress: Callable[[int], None] | None = None) -> list[Outcome]:
    """Outcomes in input order; progress(n) is called with the number finished so far.
    One run more than cores by default: a run's two processes take turns (the
    candidate's start-up, then the tests calling it), leaving a core idle between."""
    return _in_parallel(run_test, tests, limits, workers or default_workers(limits, extra=1), progress)


def run_program(source: str, limits: Limits = Limits()) -> Outcome:
    return _run(source, limits)[0]


def run_programs(sources: Sequence[str], limits: Limits = Limits(), workers: int | None = None,
                 progress: Callable[[int], None] | None = None) -> list[Outcome]:
    """Outcomes in input order; progress(n) is called with the number finished so far."""
    return _in_parallel(run_program, sources, limits, workers, progress)


def _in_parallel(function, items, limits: Limits, workers: int | None, progress) -> list[Outcome]:
    count = workers or default_workers(limits)
    finished, lock = 0, threading.Lock()

    def one(item) -> Outcome:
        nonlocal finished
        outcome = function(item, limits)
        if progress is not None:
            with lock:
                finished += 1
                progress(finished)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, count), thread_name_prefix="sandbox") as pool:
        try:
            return list(pool.map(one, items))
        except BaseException:  # Ctrl-C: finish the running programs only, not the queue
            pool.shutdown(cancel_futures=True)
            raise


def default_workers(limits: Limits, extra: int = 0) -> int:
    """One program per core (+ extra), fewer when their memory limits would not fit in RAM."""
    by_cpu = (os.cpu_count() or 1) + extra
    by_memory = _available_memory_mb() // max(1, limits.memory_mb)
    return max(1, min(by_cpu, by_memory))


PROBE = CodeTest("def f(x):\n    return x\n", "assert f(1) == 1\n", ("f",))


def containment_report() -> dict[str, str]:
    """Which mechanisms hold on this machine, from a probe run, for the run record."""
    if not _report_cache:
        limits = Limits()
        outcome, events = _run_tested(PROBE, limits)
        if not outcome.passed:  # not cached: it may be the machine's load, not the sandbox
            return {"error": f"the sandbox probe failed: {outcome.status}: {outcome.reason}"}
        mechanisms = events.get("candidate.mechanisms", {})
        report = {name: value for name, value in mechanisms.items() if name not in ("event", "side")}
        report["verdict"] = events.get("tests.mechanisms", {}).get("verdict", "")
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
    outcome, events = _with_fallbacks("program", {"program.py": source}, (), limits, disable)
    return outcome, events.get("mechanisms", {})


def _run_tested(test: CodeTest, limits: Limits, disable: Sequence[str] = ()) -> tuple[Outcome, dict]:
    """One tested run; the events of both sides ("tests.exit", "candidate.mechanisms", ...)."""
    return _with_fallbacks("tested", test.files(), test.functions, limits, disable)


def _with_fallbacks(role: str, files: dict, functions, limits: Limits, disable) -> tuple[Outcome, dict]:
    global _unavailable
    while True:
        unavailable = _unavailable
        outcome, events = run_once(role, files, functions, limits, (*disable, *sorted(unavailable)), Outcome)
        retries = {event.get("retry_without") for name, event in events.items() if name.endswith("error")}
        retry = next((name for name in retries if name and name not in unavailable), None)
        if retry is None:
            return outcome, events
        _unavailable = unavailable | {retry}


def _available_memory_mb() -> int:
    available = available_memory()
    return 4096 if available is None else available // 2**20
