"""The host's side of one sandboxed run: start the launcher in a memory cgroup
of its own, watch it (watch.py), judge what it reported (verdict.py), and
leave nothing behind: no work dir, no cgroup, no process."""

from __future__ import annotations

import marshal
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from evalkit.sandbox import cgroup
from evalkit.sandbox.verdict import judge, judge_tested
from evalkit.sandbox.watch import parse_events, watch

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "launcher.py")


def run_once(role: str, files: dict[str, str], functions: Sequence[str], limits, disable: Sequence[str],
             outcome_type) -> tuple[object, dict]:
    """One launcher run; role is "program" (files: program.py) or "tested"
    (candidate.py, tests.py, context.py; functions: the names the tests call).
    Returns (Outcome, events)."""
    if not sys.platform.startswith("linux"):
        raise RuntimeError(f"the evalkit sandbox needs Linux (namespaces, /proc); this is {sys.platform}")
    started = time.monotonic()
    group, cgroup_note = (None, "turned off") if "cgroup" in disable else cgroup.create(limits.memory_mb)
    work_dir = tempfile.mkdtemp(prefix="evalkit-sandbox-")
    status_read, status_write = os.pipe()
    try:
        config = _config(role, files, functions, limits, disable, work_dir, status_write, group, cgroup_note)
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", LAUNCHER, marshal.dumps(config).hex()],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(status_write,), start_new_session=True, env={"PATH": "/usr/bin:/bin"}, cwd=work_dir,
        )
        os.close(status_write)
        status_write = -1
        collected = watch(process, status_read, started + limits.wall_seconds, limits.output_bytes)
        oom = group is not None and group.oom_killed()
    finally:
        for fd in (status_read, status_write):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work_dir, ignore_errors=True)
        if group is not None:
            group.remove()
    events = parse_events(collected.status_lines)
    stderr_tail = collected.stderr.decode("utf-8", "replace")
    if role == "program":
        verdict = judge(events, collected.stopped_by_host, process.returncode, stderr_tail, limits, oom)
    else:
        verdict = judge_tested(events, collected.stopped_by_host, process.returncode, stderr_tail, limits, oom)
    outcome = outcome_type(
        passed=verdict.passed, status=verdict.status, reason=verdict.reason, exit_code=verdict.exit_code,
        duration_s=round(time.monotonic() - started, 3),
        stdout_tail=collected.stdout.decode("utf-8", "replace"), stderr_tail=stderr_tail,
    )
    return outcome, events


def _config(role, files, functions, limits, disable, work_dir, status_fd, group, cgroup_note) -> dict:
    return {
        "role": role,
        "files": files,
        "functions": list(functions),
        "status_fd": status_fd,
        "work_dir": work_dir,
        "python": sys.executable,
        "python_prefixes": sorted({sys.prefix, sys.exec_prefix}),
        "site_packages": _site_packages(),
        "limits": {name: getattr(limits, name) for name in type(limits).__dataclass_fields__},
        "disable": list(disable),
        "cgroup_procs": group.procs_file if group is not None else None,
        "cgroup_note": cgroup_note,
    }


def _site_packages() -> list[str]:
    """The caller's site-packages (not the user site), handed to programs that
    start without `site`: .pth startup hooks cost ~25 ms a program."""
    return [path for path in site.getsitepackages() if os.path.isdir(path)]
