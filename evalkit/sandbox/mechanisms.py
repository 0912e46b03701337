"""What holds in one sandbox, one line per mechanism, for the run's record.

Every weaker fallback says what it lacks. Loaded by path from launcher.py:
standard library only.
"""

from __future__ import annotations


def describe(plan: dict, mode: str, filesystem: str) -> dict[str, str]:
    uid = plan["ids"][0]
    limits = plan["limits"]
    plain = mode == "plain"
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
        "network": "blocked sockets (weaker: ctypes or a subprocess can get around them)"
        if plain else "network namespace, no interface up",
        "pids": "own session, leftover descendants killed (weaker: a process that leaves the session "
        "after killing the supervisor escapes)" if plain else "pid namespace: every process ends with the program",
        "ipc": "the host's SysV IPC (weaker: segments may outlive the program)" if plain
        else "own IPC namespace: SysV shared memory and queues end with it",
        "filesystem": filesystem,
        "keyring": plan["keyring"] + ("" if mode == "user_namespace" else "; the uid's user keyring is shared "
                                      "(weaker: no user namespace)"),
        "processes": processes,
        "memory": _memory(plan, limits),
        "cpu": f"{limits['cpu_seconds']:g} s CPU per process",
        "files": f"{limits['file_size_mb']} MB per file",
        "environment": "empty: PATH, locale, HOME and TMPDIR, one BLAS thread",
        "verdict": _verdict(plan, mode),
    }


def _memory(plan: dict, limits: dict) -> str:
    per_process = f"address space {limits['memory_mb']} MB per process"
    if plan["cgroup"] == "joined":
        return (f"memory cgroup: {limits['memory_mb']} MB for the whole run (every process, memfd, SysV shm, "
                f"tmpfs files), and {per_process}")
    why = plan["cgroup_note"] or plan["cgroup"]
    return (f"{per_process} only (weaker: memfd, SysV shm and tmpfs files are not capped and a program that forks "
            f"may use up to {limits['max_processes']} times that; no memory cgroup: {why})")


def _verdict(plan: dict, mode: str) -> str:
    if plan["role"] == "program":
        return "exit status 0 and the end of the program reached (forgeable by the program: not for scores)"
    if mode == "plain":
        return ("the tests' own process; the candidate in another, plain data only (weaker: same uid and no pid "
                "namespace, so the candidate may signal or trace the tests' process)")
    return "the tests' own sandboxed process; the candidate in another sandbox, returning plain data only"
