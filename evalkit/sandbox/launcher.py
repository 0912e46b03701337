"""Supervisor of one sandboxed program: `python -I -S launcher.py CONFIG`.

evalkit.sandbox.execute starts it in a new session, with the program's stdout and
stderr pipes and a status pipe on which it writes one line per event:
{"event": "mechanisms", ...}, then {"event": "exit", ...} or
{"event": "error", "message": ...}, each the repr() of a dict of plain values.
Its argument is the config, marshal-encoded in hex: json (and the re module it
imports) would cost more than the rest of the launcher's start-up.

With namespaces (the normal case on Linux, as root or as a normal user):

    host ── launcher ── init (pid 1 of a new pid namespace) ── program (pid 2) ── ...

The launcher enters new user, mount, network, pid, ipc and uts namespaces;
init builds the private filesystem view (fs.py), starts the program and
waits for it. When init exits, or is killed, or loses the launcher (parent-death
signal), the kernel kills every process left in the namespace, detached ones
included. The program cannot signal the launcher (another pid namespace) and
signals it sends to init are dropped (init of a namespace without handlers).

Without namespaces: host ── launcher (child subreaper) ── program, and the
launcher kills every descendant left once the program ends; weaker, and said so
in the mechanisms it reports.

Runs without site-packages and outside the evalkit package (python -I -S), so
its helpers are loaded by file path.
"""

from __future__ import annotations

import fcntl
import importlib.machinery
import marshal
import os
import signal
import sys


def _load_sibling(name: str):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    loader = importlib.machinery.SourceFileLoader(f"_evalkit_{name}", path)
    module = type(sys)(loader.name)
    module.__file__ = path
    loader.exec_module(module)
    return module


linux = _load_sibling("linux")
fs = _load_sibling("fs")
namespaces = _load_sibling("namespaces")
processes = _load_sibling("processes")
program = _load_sibling("program")
tested = _load_sibling("tested")
mechanisms = _load_sibling("mechanisms")

NOBODY = 65534  # the unprivileged identity programs get when we are root
SETUP_FAILED = 70
SHARED_MEMORY_MB = 8  # /dev/shm: multiprocessing's semaphores, not a place for data


class Reporter:
    """Event lines on the status pipe; each line is one atomic write (< PIPE_BUF)."""

    def __init__(self, fd: int, side: str | None = None):
        # Move it out of the way of fds 3-5 (the program's pipes), close-on-exec.
        self.fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        self.side = side
        os.close(fd)

    def __call__(self, event: str, **fields) -> None:
        tag = {"side": self.side} if self.side else {}
        line = repr({"event": event, **tag, **fields}).replace("\n", " ")
        os.write(self.fd, (line + "\n").encode())


def main(argv: list[str]) -> int:
    config = marshal.loads(bytes.fromhex(argv[1]))
    report = Reporter(config["status_fd"])
    cgroup = _join_cgroup(config.get("cgroup_procs"))
    plan = _initial_plan(config)
    plan["keyring"] = program.fresh_keyring(linux)
    plan["cgroup"] = cgroup
    plan["cgroup_note"] = config.get("cgroup_note") or ""
    if plan["role"] == "program":
        return _run_side(plan, report)
    return tested.run(plan, report, Reporter, _run_side, _exit_child)


def _join_cgroup(procs_file: str | None) -> str:
    """Every process of this run, this one first, in the host's memory cgroup."""
    if not procs_file:
        return "none"
    try:
        with open(procs_file, "w") as file:
            file.write(str(os.getpid()))
    except OSError as error:
        return f"not joined ({error.strerror})"
    return "joined"


def _run_side(plan: dict, report: Reporter) -> int:
    """One sandbox: the strongest namespaces this machine allows, then its program."""
    try:
        mode = namespaces.enter(linux, plan, set(plan["disable"]))
    except namespaces.UserNamespaceBroken as error:
        # Half inside a user namespace: no way back from here, but the host can
        # start over without one.
        report("error", message=f"sandbox setup failed: {error}", retry_without="user_namespace")
        return SETUP_FAILED
    except OSError as error:
        report("error", message=f"sandbox setup failed: {error}")
        return SETUP_FAILED
    plan["work_dir"] = plan["host_work_dir"] if mode == "plain" else fs.WORK_DIR
    if mode == "plain":
        return _supervise_plain(plan, report)
    return _supervise_namespaces(plan, mode, report)


def _initial_plan(config: dict) -> dict:
    root = os.geteuid() == 0
    return {
        "role": config["role"],
        "files": config["files"],
        "functions": config.get("functions", []),
        "runners": program.runner_sources(),
        "extra_fds": [],
        "disable": config.get("disable", ()),
        "limits": config["limits"],
        "python": os.path.realpath(config["python"]),  # a venv's bin/ is not in the sandbox
        "python_prefixes": config.get("python_prefixes", []),
        "site_packages": config.get("site_packages", []),
        "host_work_dir": config["work_dir"],
        "root": root,
        "ids": (NOBODY, NOBODY) if root else (os.getuid(), os.getgid()),
    }


def _supervise_namespaces(plan: dict, mode: str, report: Reporter) -> int:
    init = os.fork()
    if init == 0:
        _exit_child(_run_init, plan, mode, report)
    # The host's stop request (timeout, output limit): end the whole namespace.
    _close_all(plan["extra_fds"])  # init and the program hold them
    signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL))
    os.waitpid(init, 0)
    return 0


def _close_all(fds) -> None:
    for fd in fds:
        os.close(fd)


def _exit_child(function, *arguments) -> None:
    """A forked child must never unwind into its parent's code."""
    report = arguments[-1]
    code = SETUP_FAILED
    try:
        code = function(*arguments)
    except BaseException as error:  # noqa: BLE001 - reported, then the child ends
        report("error", message=f"sandbox supervisor failed: {error!r}")
    finally:
        os._exit(code)


def _run_init(plan: dict, mode: str, report: Reporter) -> int:
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)  # no handler: the kernel drops them
        prepared = fs.prepare_private_view(linux, plan["python_prefixes"], plan["site_packages"])
        if mode == "user_namespace" and plan["root"]:
            program.drop_privileges(*plan["ids"])  # keeps its capabilities inside the namespace
        # The program (same uid) may not trace init, which holds the status pipe.
        linux.prctl(linux.PR_SET_DUMPABLE, 0)
        work_mb = program_disk_mb(plan["limits"])
        filesystem = fs.finish_private_view(linux, prepared, plan["ids"], work_mb, SHARED_MEMORY_MB)
        nested = _forbid_nested_user_namespaces() if mode == "user_namespace" else ""
    except OSError as error:
        retry = "user_namespace" if mode == "user_namespace" else "namespaces"
        report("error", message=f"sandbox setup failed in the namespace: {error}", retry_without=retry)
        return SETUP_FAILED
    described = mechanisms.describe(plan, mode, filesystem)
    described["user"] += nested
    report("mechanisms", **described)
    return _run_and_wait(plan, report)


def program_disk_mb(limits: dict) -> int:
    """The work dir holds a few files of the largest allowed size."""
    return 4 * limits["file_size_mb"]


def _forbid_nested_user_namespaces() -> str:
    """Fewer kernel paths for a program to try: no namespaces of its own.
    Best effort (the limit is per user namespace, so this stays inside ours)."""
    try:
        with open("/proc/sys/user/max_user_namespaces", "w") as file:
            file.write("0")
    except OSError as error:
        return f"; nested user namespaces allowed ({error.strerror})"
    return "; no nested user namespaces"


def _supervise_plain(plan: dict, report: Reporter) -> int:
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # orphans come to us, not to pid 1
    work = f"own temp dir {plan['host_work_dir']}, no disk quota; the rest by uid permissions (weaker)"
    report("mechanisms", **mechanisms.describe(plan, "plain", work))

    def stop(*_):
        processes.kill_descendants(_started["program"])
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    code = _run_and_wait(plan, report)
    processes.kill_descendants(_started["program"])
    return code


_started = {"program": 0}  # the program's pid, for the plain mode's SIGTERM handler


def _run_and_wait(plan: dict, report: Reporter) -> int:
    done_read, done_write = os.pipe()
    child = os.fork()
    _started["program"] = child
    if child > 0 and plan["work_dir"] == plan["host_work_dir"]:
        # Plain mode: should the program kill us, the host can still end its session.
        report("started", session=child)
    if child == 0:
        os.close(done_read)
        try:
            program.exec_program(linux, plan, [done_write, *plan["extra_fds"]], report.fd)
        except BaseException as error:  # noqa: BLE001 - anything here is a setup failure
            report("error", message=f"cannot start the program: {error}")
        os._exit(SETUP_FAILED)
    os.close(done_write)
    _close_all(plan["extra_fds"])
    status, usage = _wait_for(child)
    leftover = len(processes.live_children())  # daemons it started: counted against it, then killed
    os.set_blocking(done_read, False)
    try:
        done = os.read(done_read, 4096).decode("utf-8", "replace")
    except BlockingIOError:  # a leftover child still holds the pipe, silent
        done = ""
    exited = os.WIFEXITED(status)
    report(
        "exit",
        code=os.WEXITSTATUS(status) if exited else None,
        signal=None if exited else os.WTERMSIG(status),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        finished=done == "finished",
        done=done,
        leftover=leftover,
    )
    return 0


def _wait_for(child: int):
    """Reap everything (orphans come to us) until `child` itself exits."""
    while True:
        pid, status, usage = os.wait4(-1, 0)
        if pid == child:
            return status, usage


if __name__ == "__main__":
    sys.exit(main(sys.argv))
