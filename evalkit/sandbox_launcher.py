"""Supervisor of one sandboxed program: `python -I -S sandbox_launcher.py CONFIG_JSON`.

evalkit.sandbox starts it in a new session, with the program's stdout and
stderr pipes and a status pipe on which it writes JSON lines:
{"event": "mechanisms", ...}, then {"event": "exit", ...} or
{"event": "error", "message": ...}.

With namespaces (the normal case on Linux, as root or as a normal user):

    host ── launcher ── init (pid 1 of a new pid namespace) ── program (pid 2) ── ...

The launcher enters new user, mount, network, pid, ipc and uts namespaces;
init builds the private filesystem view (sandbox_fs), starts the program and
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
import importlib.util
import json
import os
import signal
import sys
import time


def _load_sibling(name: str):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_evalkit_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


linux = _load_sibling("sandbox_linux")
fs = _load_sibling("sandbox_fs")
program = _load_sibling("sandbox_program")

NOBODY = 65534  # the unprivileged identity programs get when we are root
NAMESPACES = (
    linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWPID | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
)
SETUP_FAILED = 70


class SetupError(Exception):
    pass


class Reporter:
    """JSON lines on the status pipe; each line is one atomic write (< PIPE_BUF)."""

    def __init__(self, fd: int):
        # Move it out of the way of fd 3 (the program's done pipe), close-on-exec.
        self.fd = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)

    def __call__(self, event: str, **fields) -> None:
        os.write(self.fd, (json.dumps({"event": event, **fields}) + "\n").encode())


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    report = Reporter(config["status_fd"])
    try:
        plan = _initial_plan(config)
        mode = _enter_namespaces(plan, set(config.get("disable", ())))
    except (OSError, SetupError) as error:
        report("error", message=f"sandbox setup failed: {error}")
        return SETUP_FAILED
    if mode == "plain":
        return _supervise_plain(plan, report)
    return _supervise_namespaces(plan, mode, report)


def _initial_plan(config: dict) -> dict:
    with open(config["program_path"], encoding="utf-8") as file:
        source = file.read()
    os.unlink(config["program_path"])  # the program writes its own copy where it runs
    root = os.geteuid() == 0
    return {
        "source": source,
        "limits": config["limits"],
        "python": config["python"],
        "python_prefixes": config.get("python_prefixes", []),
        "host_work_dir": config["work_dir"],
        "host_home": config.get("host_home"),
        "niceness": config.get("niceness", 0),
        "root": root,
        "ids": (NOBODY, NOBODY) if root else (os.getuid(), os.getgid()),
    }


def _enter_namespaces(plan: dict, disabled: set[str]) -> str:
    """The strongest mode this machine allows: user_namespace, root_namespaces or plain."""
    max_processes = plan["limits"]["max_processes"]
    allowed = "namespaces" not in disabled
    if allowed and "user_namespace" not in disabled and _unshare_user_namespace(plan):
        # Every sandbox gets its own count of processes: RLIMIT_NPROC is counted
        # per (user namespace, uid). +1 for init, which runs under the same uid.
        plan.update(drop_to=None, block_sockets=False, work_dir=fs.WORK_DIR, max_tasks=max_processes + 1)
        return "user_namespace"
    if allowed and plan["root"] and _try_unshare(NAMESPACES):
        shared = program.count_tasks_of(NOBODY)
        plan.update(drop_to=plan["ids"], block_sockets=False, work_dir=fs.WORK_DIR)
        plan["max_tasks"] = shared + max_processes
        return "root_namespaces"
    work_dir = plan["host_work_dir"]
    if plan["root"]:
        os.chown(work_dir, *plan["ids"])
    shared = program.count_tasks_of(plan["ids"][0])
    plan.update(drop_to=plan["ids"] if plan["root"] else None, block_sockets=True, work_dir=work_dir)
    plan["max_tasks"] = shared + max_processes
    return "plain"


def _try_unshare(flags: int) -> bool:
    try:
        linux.unshare(flags)
        return True
    except OSError:
        return False


def _unshare_user_namespace(plan: dict) -> bool:
    uid, gid = plan["ids"]
    if not plan["root"]:
        if not _try_unshare(linux.CLONE_NEWUSER | NAMESPACES):
            return False
        _write_id_maps("self", uid, gid, deny_setgroups=True)
        return True
    # A process may map only its own uid into a namespace it is in, and root
    # mapped to root would keep root's files and be exempt from RLIMIT_NPROC.
    # So a helper left outside maps the sandbox's uid 65534 to the host's 65534.
    go_read, go_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        os.close(go_write)
        mapped = False
        if os.read(go_read, 1) == b"g":
            try:
                _write_id_maps(str(os.getppid()), uid, gid, deny_setgroups=False)
                mapped = True
            except OSError:
                pass
        os._exit(0 if mapped else 1)
    os.close(go_read)
    entered = _try_unshare(linux.CLONE_NEWUSER | NAMESPACES)
    if entered:
        os.write(go_write, b"g")
    os.close(go_write)
    _, status = os.waitpid(helper, 0)
    if entered and os.waitstatus_to_exitcode(status) != 0:
        raise SetupError(f"could not map uid {uid} into the new user namespace")
    return entered


def _write_id_maps(pid: str, uid: int, gid: int, deny_setgroups: bool) -> None:
    if deny_setgroups:  # required before an unprivileged process may write gid_map
        with open(f"/proc/{pid}/setgroups", "w") as file:
            file.write("deny")
    for name, number in (("uid_map", uid), ("gid_map", gid)):
        with open(f"/proc/{pid}/{name}", "w") as file:
            file.write(f"{number} {number} 1\n")


def _supervise_namespaces(plan: dict, mode: str, report: Reporter) -> int:
    init = os.fork()
    if init == 0:
        os._exit(_run_init(plan, mode, report))
    # The host's stop request (timeout, output limit): end the whole namespace.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL))
    os.waitpid(init, 0)
    return 0


def _run_init(plan: dict, mode: str, report: Reporter) -> int:
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)  # no handler: the kernel drops them
        prepared = fs.prepare_private_view(linux, plan["host_home"], plan["python_prefixes"])
        if mode == "user_namespace" and plan["root"]:
            program.drop_privileges(*plan["ids"])  # keeps its capabilities inside the namespace
        work_mb = program_disk_mb(plan["limits"])
        filesystem = fs.finish_private_view(linux, prepared, plan["ids"], work_mb)
        fs.mount_proc(linux)
        if mode == "user_namespace":
            _forbid_nested_user_namespaces()
    except OSError as error:
        report("error", message=f"sandbox setup failed in the namespace: {error}")
        return SETUP_FAILED
    report("mechanisms", **_describe(plan, mode, filesystem))
    return _run_and_wait(plan, report)


def program_disk_mb(limits: dict) -> int:
    """The work dir holds a few files of the largest allowed size."""
    return 4 * limits["file_size_mb"]


def _forbid_nested_user_namespaces() -> None:
    # Fewer kernel paths for a program to try: it cannot create namespaces of its own.
    with open("/proc/sys/user/max_user_namespaces", "w") as file:
        file.write("0")


def _supervise_plain(plan: dict, report: Reporter) -> int:
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # orphans come to us, not to pid 1
    work = f"own temp dir {plan['host_work_dir']}, no disk quota; the rest by uid permissions (weaker)"
    report("mechanisms", **_describe(plan, "plain", work))

    def stop(*_):
        _kill_descendants()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    code = _run_and_wait(plan, report)
    _kill_descendants()
    return code


def _run_and_wait(plan: dict, report: Reporter) -> int:
    done_read, done_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(done_read)
        try:
            program.exec_program(linux, plan, done_write, report.fd)
        except BaseException as error:  # noqa: BLE001 - anything here is a setup failure
            report("error", message=f"cannot start the program: {error}")
        os._exit(SETUP_FAILED)
    os.close(done_write)
    status, usage = _wait_for(child)
    leftover = len(_children())  # daemons it started: about to be killed, and counted against it
    os.set_blocking(done_read, False)
    try:
        finished = os.read(done_read, 16) == b"finished"
    except BlockingIOError:  # a leftover child still holds the pipe, silent
        finished = False
    exited = os.WIFEXITED(status)
    report(
        "exit",
        code=os.WEXITSTATUS(status) if exited else None,
        signal=None if exited else os.WTERMSIG(status),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        finished=finished,
        leftover=leftover,
    )
    return 0


def _wait_for(child: int):
    """Reap everything (orphans come to us) until `child` itself exits."""
    while True:
        pid, status, usage = os.wait4(-1, 0)
        if pid == child:
            return status, usage


def _kill_descendants(deadline_s: float = 2.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        children = _children()
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_all()
        time.sleep(0.002)


def _children() -> list[int]:
    """Live (not zombie) processes whose parent is this one; orphans count, since
    init and the subreaper both inherit them."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as file:
                    state, parent = file.read().rsplit(b")", 1)[1].split()[:2]
            except (OSError, ValueError):
                continue
            if int(parent) == me and state != b"Z":
                found.append(int(entry))
    return found


def _reap_all() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _describe(plan: dict, mode: str, filesystem: str) -> dict[str, str]:
    uid = plan["ids"][0]
    limits = plan["limits"]
    weak_net = "blocked sockets (weaker: ctypes or a subprocess can get around them)"
    users = {
        "user_namespace": f"user namespace, uid {uid}, no capabilities",
        "root_namespaces": f"uid {uid}, no capabilities (no user namespace)",
        "plain": f"uid {uid}, no capabilities (weaker: it may signal other sandboxes)"
        if plan["root"]
        else f"same uid {uid} as the caller (weaker: it can read the caller's files and "
        "/proc/PID/environ, and signal the caller's processes)",
    }
    processes = f"RLIMIT_NPROC {limits['max_processes']} per sandbox"
    if mode != "user_namespace":
        processes += f" on top of the {plan['max_tasks'] - limits['max_processes']} tasks uid {uid} had (weaker: shared)"
    return {
        "user": users[mode],
        "network": weak_net if mode == "plain" else "network namespace (loopback only)",
        "pids": "own session, leftover descendants killed (weaker: a program that kills the supervisor escapes)"
        if mode == "plain"
        else "pid namespace: every process ends with the program",
        "filesystem": filesystem,
        "processes": processes,
        "memory": f"address space {limits['memory_mb']} MB per process",
        "cpu": f"{limits['cpu_seconds']:g} s CPU per process",
        "files": f"{limits['file_size_mb']} MB per file",
        "environment": "empty: PATH, LANG, HOME and TMPDIR only",
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
