"""The last steps before untrusted code runs: drop privileges, apply limits, exec.

Runs in the forked child that becomes the program. Loaded by path from
launcher.py: standard library only (linux.py comes in as an
argument). A plan's role says what runs: "program" (a whole program, RUNNER),
or one side of a tested run, "tests" (inside/tests_side.py) or "candidate"
(inside/candidate_side.py), each prefixed by inside/plain_data.py.
"""

from __future__ import annotations

import fcntl
import math
import os
import resource
import signal
from types import ModuleType

PROGRAM_FILE = "program.py"
DONE_FD = 3  # where the runner reports "the program reached its end" (or, for the tests, the verdict)
SIDE_FDS = 4, 5  # a tested run's call and reply pipes
HERE = os.path.dirname(os.path.abspath(__file__))
INSIDE = os.path.join(HERE, "inside")  # the code that runs in the sandboxes, read as text, never imported

# Executed by `python -I -S -u -c` as the program's process. It runs the program
# as __main__ and only then writes to DONE_FD, so a program that leaves early
# with status 0 (sys.exit(0), os._exit(0) before its tests fail) is not a pass.
# Without `site` (its .pth hooks cost more than the rest of the start-up) it
# adds site-packages and the exit()/quit() builtins itself.
RUNNER = r"""
import os, sys, types
def _evalkit_sandbox_run():
    path, done_fd, block_network = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    sys.path.extend(entry for entry in sys.argv[4].split(os.pathsep) if entry)
    import builtins
    builtins.exit = builtins.quit = sys.exit
    os.set_inheritable(done_fd, False)
    if block_network:
        import socket, _socket
        class BlockedSocket(_socket.socket):
            def __init__(self, *args, **kwargs):
                raise PermissionError("network access is blocked in the evalkit sandbox")
        socket.socket = socket.SocketType = _socket.socket = BlockedSocket
    with open(path, encoding="utf-8") as file:
        code = compile(file.read(), path, "exec")
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.argv = [path]
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as error:  # the traceback starts at the program, not here
        import traceback
        traceback.print_exception(type(error), error, error.__traceback__.tb_next)
        sys.exit(1)
    os.write(done_fd, b"finished")
_evalkit_sandbox_run()
"""


def program_environment(work_dir: str) -> dict[str, str]:
    """Nothing of the caller's environment: no API keys, no tokens, no HOME."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": work_dir,
        "TMPDIR": work_dir,
        # One thread per numerical library: a BLAS pool sized to the machine's
        # cores would run into the process limit, which counts threads.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def apply_limits(limits: dict, max_tasks: int) -> None:
    cpu = max(1, math.ceil(limits["cpu_seconds"]))
    mb = 1024 * 1024
    # The soft CPU limit sends SIGXCPU; a program that ignores it gets SIGKILL a
    # second later at the hard limit.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def runner_sources() -> dict[str, str]:
    """Read while the launcher still sees the evalkit package (the sandbox does not)."""
    def read(name: str) -> str:
        with open(os.path.join(INSIDE, name), encoding="utf-8") as file:
            return file.read()

    codec = read("plain_data.py")
    return {"program": RUNNER, "tests": codec + read("tests_side.py"), "candidate": codec + read("candidate_side.py")}


def runner_argv(plan: dict) -> list[str]:
    block = "1" if plan["block_sockets"] else "0"
    site_packages = os.pathsep.join(plan["site_packages"])
    role = plan["role"]
    if role == "program":
        arguments = [PROGRAM_FILE, str(DONE_FD), block]
    elif role == "tests":
        arguments = [str(DONE_FD), *map(str, SIDE_FDS), ",".join(plan["functions"])]
    else:
        arguments = ["candidate.py", ",".join(plan["functions"]), *map(str, SIDE_FDS), block]
    return [plan["python"], "-I", "-S", "-u", "-c", plan["runners"][role], *arguments, site_packages]


def _place_descriptors(wanted: list[int], status_fd: int) -> None:
    """wanted[i] becomes descriptor DONE_FD + i; all others but 0-2 and
    status_fd (close-on-exec) are closed."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in wanted]
    for index, fd in enumerate(high):
        os.dup2(fd, DONE_FD + index)  # dup2 leaves the copy inheritable
    keep = {0, 1, 2, status_fd, *range(DONE_FD, DONE_FD + len(high))}
    for fd in range(3, 1 << 10):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    os.closerange(1 << 10, 1 << 16)


def exec_program(linux: ModuleType, plan: dict, fds: list[int], status_fd: int) -> None:
    """Become the program. Never returns; errors before exec raise to the caller.

    status_fd stays open (close-on-exec) so that a failing execve can still be
    reported; every other inherited descriptor but `fds` (as 3, 4, ...) is closed.
    """
    os.setsid()  # its own session: kill(0, ...) from the program reaches only its own group
    if plan["drop_to"] is not None:
        drop_privileges(*plan["drop_to"])
    os.chdir(plan["work_dir"])
    for name, text in plan["files"].items():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
    apply_limits(plan["limits"], plan["max_tasks"])
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)  # setuid binaries stay unprivileged
    for number in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    _place_descriptors(fds, status_fd)
    python = plan["python"]
    argv = runner_argv(plan)
    if plan["role"] == "tests":
        _run_in_this_process(plan, argv, status_fd)
    try:
        os.execve(python, argv, program_environment(plan["work_dir"]))
    except PermissionError as error:
        raise PermissionError(
            f"uid {os.getuid()} cannot run {python} ({error.strerror}): make the interpreter and its "
            "parent directories readable by other users, or allow user namespaces"
        ) from None


def _run_in_this_process(plan: dict, argv: list[str], status_fd: int) -> None:
    """The tests' side is trusted code: it runs in this fork of the launcher
    (the same interpreter), which saves an interpreter start per tested run."""
    import builtins
    import sys

    os.close(status_fd)
    os.environ.clear()
    os.environ.update(program_environment(plan["work_dir"]))
    sys.argv, sys.executable = ["-c", *argv[6:]], plan["python"]
    code = 0
    try:
        exec(compile(argv[5], "<tests side>", "exec"), {"__name__": "__main__", "__builtins__": builtins})  # noqa: S102
    except BaseException:  # noqa: BLE001 - its traceback on stderr, like an interpreter's
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def fresh_keyring(linux: ModuleType) -> str:
    """Leave the caller's session keyring behind (the program inherits an empty
    one, gone with its last process); says which holds."""
    try:
        linux.join_new_session_keyring()
    except OSError as error:
        return f"the caller's session keyring (weaker: keyctl failed, {error.strerror})"
    return "a fresh, empty session keyring"
