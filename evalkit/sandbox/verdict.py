"""Turn what a sandboxed run left behind into a status and a one-line reason.

Pure functions over the launcher's events, the host's own stop decision and the
tail of stderr, so every rule here is testable without running anything.
"""

from __future__ import annotations

import json
import math
import re
import signal
from dataclasses import dataclass

REASON_CHARS = 200

_TRACEBACK = "Traceback (most recent call last):"
_PROGRAM_FRAME = re.compile(r'File "program\.py", line (\d+)')
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(:|$)")
# Exceptions that mean "a sandbox limit was hit", told apart from plain failures.
_LIMIT_MARKERS = (
    ("MemoryError", "memory"),
    ("[Errno 27] File too large", "file_limit"),
    ("[Errno 28] No space left on device", "file_limit"),
    ("[Errno 11] Resource temporarily unavailable", "process_limit"),
)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    status: str
    reason: str
    exit_code: int | None


def judge(
    events: dict,
    stopped_by_host: str | None,
    launcher_code: int | None,
    stderr_tail: str,
    limits,
    oom: bool = False,
) -> Verdict:
    """A whole program. events: the launcher's last event of each kind ("exit",
    "error", "mechanisms"); oom: the run's memory cgroup killed a process."""
    stopped = _stopped(events, stopped_by_host, limits, oom, ("error",))
    if stopped is not None:
        return stopped
    if "exit" not in events:
        return _no_result(launcher_code, stderr_tail)
    return _judge_exit(events["exit"], stderr_tail, limits)


def judge_tested(events: dict, stopped_by_host: str | None, launcher_code: int | None, stderr_tail: str,
                 limits, oom: bool = False) -> Verdict:
    """A tested run: the tests' process's verdict, and what ended either side."""
    stopped = _stopped(events, stopped_by_host, limits, oom, ("error", "tests.error", "candidate.error"))
    if stopped is not None:
        return stopped
    tests_exit = events.get("tests.exit")
    if tests_exit is None:
        return _no_result(launcher_code, stderr_tail)
    verdict = _parsed_verdict(tests_exit.get("done", ""))
    if verdict is None:  # the tests' process ended before it could say
        ended = _judge_exit({**tests_exit, "finished": False}, "", limits)
        reason = ended.reason if ended.status != "failed" else f"the tests ended without a verdict ({ended.reason})"
        return Verdict(False, ended.status, _one_line(reason), ended.exit_code)
    candidate_exit = events.get("candidate.exit") or {}
    if verdict["passed"]:
        if events.get("candidate.lingered"):
            return Verdict(False, "failed", "the candidate kept running after the tests ended (killed)", 0)
        if candidate_exit.get("leftover"):
            return Verdict(False, "failed", f"left {candidate_exit['leftover']} process(es) running (killed)", 0)
        return Verdict(True, "passed", "passed", 0)
    reason = verdict["reason"]
    if candidate_exit.get("signal") is not None:
        ended = _judge_exit(candidate_exit, "", limits)
        if ended.status == "timeout":
            return Verdict(False, "timeout", f"{ended.reason} by the candidate", None)
        reason = f"{reason}; the candidate was {ended.reason}"
    return Verdict(False, _status_of(reason), _one_line(_with_limit(reason, reason, limits)), 1)


def _parsed_verdict(text: str) -> dict | None:
    try:
        verdict = json.loads(text)
    except ValueError:
        return None
    if type(verdict) is not dict or type(verdict.get("passed")) is not bool:
        return None
    return {"passed": verdict["passed"], "reason": str(verdict.get("reason", ""))}


def _stopped(events: dict, stopped_by_host: str | None, limits, oom: bool, error_keys) -> Verdict | None:
    """What ends a run before its own result counts: the host's limits, the
    memory cgroup, a sandbox that could not be set up."""
    if stopped_by_host == "timeout":
        return Verdict(False, "timeout", f"wall-clock limit {limits.wall_seconds:g}s exceeded", None)
    if stopped_by_host == "output_limit":
        return Verdict(False, "output_limit", f"output limit of {limits.output_bytes} bytes exceeded", None)
    errors = [events[key] for key in error_keys if key in events]
    if errors:
        return Verdict(False, "sandbox_error", _one_line(str(errors[0].get("message"))), None)
    if oom:
        return Verdict(False, "memory", f"memory limit {limits.memory_mb} MB of the whole run exceeded "
                       "(memory cgroup)", None)
    return None


def _no_result(launcher_code: int | None, stderr_tail: str) -> Verdict:
    if launcher_code is not None and launcher_code < 0:
        name = _signal_name(-launcher_code)
        return Verdict(False, "killed", f"sandbox supervisor killed by signal {-launcher_code} ({name})", None)
    last = _last_line(stderr_tail) or "no output"
    return Verdict(False, "sandbox_error", _one_line(f"sandbox exited with {launcher_code} and no result: {last}"), None)


def _judge_exit(exit_event: dict, stderr_tail: str, limits) -> Verdict:
    code, number = exit_event["code"], exit_event["signal"]
    if number is not None:
        cpu_limit = max(1, math.ceil(limits.cpu_seconds))
        if number == signal.SIGXCPU or (number == signal.SIGKILL and exit_event["cpu_s"] >= cpu_limit):
            return Verdict(False, "timeout", f"CPU-time limit {limits.cpu_seconds:g}s exceeded", None)
        return Verdict(False, "killed", f"killed by signal {number} ({_signal_name(number)})", None)
    leftover = exit_event.get("leftover", 0)
    if code == 0 and exit_event["finished"] and leftover:
        return Verdict(False, "failed", f"left {leftover} process(es) running after it ended (killed)", 0)
    if code == 0 and exit_event["finished"]:
        return Verdict(True, "passed", "passed", 0)
    if code == 0:
        reason = "exited with status 0 before the end of the program (sys.exit or os._exit)"
        return Verdict(False, "failed", reason, 0)
    exception, line = parse_traceback(stderr_tail)
    if exception is None:
        return Verdict(False, "failed", _one_line(f"exit status {code}: {_last_line(stderr_tail)}".rstrip(": ")), code)
    reason = f"{exception} at line {line}" if line is not None else exception
    return Verdict(False, _status_of(exception), _one_line(_with_limit(reason, exception, limits)), code)


def parse_traceback(stderr: str) -> tuple[str | None, int | None]:
    """(last exception line, its line number in program.py) of the last traceback.

    Searched from the first traceback on: the copies a program forked may
    interleave their tracebacks with its own."""
    start = stderr.find(_TRACEBACK)
    if start < 0:
        return None, None
    segment = stderr[start + len(_TRACEBACK) :]
    lines = [line for line in segment.splitlines() if line.strip()]
    exception = next(
        (line.strip() for line in reversed(lines) if not line[0].isspace() and _EXCEPTION_LINE.match(line)),
        None,
    )
    frames = _PROGRAM_FRAME.findall(segment)
    return exception, int(frames[-1]) if frames else None


def _status_of(exception: str) -> str:
    for marker, status in _LIMIT_MARKERS:
        if marker in exception:
            return status
    return "failed"


def _with_limit(reason: str, exception: str, limits) -> str:
    status = _status_of(exception)
    if status == "memory":
        return f"{reason} (address-space limit {limits.memory_mb} MB)"
    if status == "file_limit" and "[Errno 28]" in exception:
        return f"{reason} (the work dir's size limit)"
    if status == "file_limit":
        return f"{reason} (file-size limit {limits.file_size_mb} MB)"
    if status == "process_limit":
        return f"{reason} (process limit {limits.max_processes})"
    return reason


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_CHARS else flat[: REASON_CHARS - 1] + "…"
