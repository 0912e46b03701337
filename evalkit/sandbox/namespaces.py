"""Enter the strongest isolation this machine allows, for launcher.py.

Modes, strongest first:
- user_namespace: new user, mount, network, pid, ipc and uts namespaces, as
  root or as a normal user. The program's uid is 65534 (as root) or the
  caller's own, mapped 1:1, with no capabilities on the host.
- root_namespaces: root without user namespaces: the same namespaces, then
  setuid 65534 in the program.
- plain: nothing to unshare: the program runs under the launcher as a child
  subreaper; sockets are blocked in-process, and weaker points are reported.

Loaded by path from launcher.py: standard library only.
"""

from __future__ import annotations

import os
from types import ModuleType


class UserNamespaceBroken(OSError):
    """Entered a user namespace but could not map ids into it: unusable."""


def _namespace_flags(linux: ModuleType) -> int:
    return linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWPID | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS


def enter(linux: ModuleType, plan: dict, disabled: set[str]) -> str:
    """The strongest mode this machine allows: user_namespace, root_namespaces or plain."""
    max_processes = plan["limits"]["max_processes"]
    allowed = "namespaces" not in disabled
    if allowed and "user_namespace" not in disabled and _unshare_user_namespace(linux, plan):
        # Every sandbox gets its own count of processes: RLIMIT_NPROC is counted
        # per (user namespace, uid). +1 for init, which runs under the same uid.
        plan.update(drop_to=None, block_sockets=False, max_tasks=max_processes + 1)
        return "user_namespace"
    if allowed and plan["root"] and _try_unshare(linux, _namespace_flags(linux)):
        shared = count_tasks_of(plan["ids"][0])
        plan.update(drop_to=plan["ids"], block_sockets=False)
        plan["max_tasks"] = shared + max_processes
        return "root_namespaces"
    if plan["root"]:
        os.chown(plan["host_work_dir"], *plan["ids"])
    shared = count_tasks_of(plan["ids"][0])
    plan.update(drop_to=plan["ids"] if plan["root"] else None, block_sockets=True)
    plan["max_tasks"] = shared + max_processes
    return "plain"


def _try_unshare(linux: ModuleType, flags: int) -> bool:
    try:
        linux.unshare(flags)
        return True
    except OSError:
        return False


def _unshare_user_namespace(linux: ModuleType, plan: dict) -> bool:
    uid, gid = plan["ids"]
    if not plan["root"]:
        if not _try_unshare(linux, linux.CLONE_NEWUSER | _namespace_flags(linux)):
            return False
        try:
            _write_id_maps("self", uid, gid, deny_setgroups=True)
        except OSError as error:
            raise UserNamespaceBroken(f"could not map uid {uid} into the new user namespace: {error}") from None
        return True
    # A process may map only its own uid into a namespace it is in, and root
    # mapped to root would keep root's files and be exempt from RLIMIT_NPROC.
    # So a helper left outside maps the sandbox's uid 65534 to the host's 65534.
    go_read, go_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        mapped = False
        try:  # never unwind into the parent's code
            os.close(go_write)
            if os.read(go_read, 1) == b"g":
                _write_id_maps(str(os.getppid()), uid, gid, deny_setgroups=False)
                mapped = True
        finally:
            os._exit(0 if mapped else 1)
    os.close(go_read)
    entered = _try_unshare(linux, linux.CLONE_NEWUSER | _namespace_flags(linux))
    if entered:
        os.write(go_write, b"g")
    os.close(go_write)
    _, status = os.waitpid(helper, 0)
    if entered and os.waitstatus_to_exitcode(status) != 0:
        raise UserNamespaceBroken(f"could not map uid {uid} into the new user namespace")
    return entered


def _write_id_maps(pid: str, uid: int, gid: int, deny_setgroups: bool) -> None:
    if deny_setgroups:  # required before an unprivileged process may write gid_map
        with open(f"/proc/{pid}/setgroups", "w") as file:
            file.write("deny")
    for name, number in (("uid_map", uid), ("gid_map", gid)):
        with open(f"/proc/{pid}/{name}", "w") as file:
            file.write(f"{number} {number} 1\n")


def count_tasks_of(uid: int) -> int:
    """Processes and threads of `uid`: RLIMIT_NPROC counts them all against one limit."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                total += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:  # exited while we looked
            continue
    return total
