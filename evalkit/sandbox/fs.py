"""The filesystem a sandboxed program sees, built inside its own mount namespace.

Deny by default: the program's root is a new, empty tmpfs that holds only what
an interpreter needs to run, each bound read-only (the system's /usr and /lib,
the interpreter's own prefix and the caller's site-packages, /etc/ld.so.cache,
the harmless device nodes), a fresh /proc of its own pid namespace, its private
size- and inode-limited work dir at /tmp and a small private /dev/shm. The old
root is detached (pivot_root), so the user's files, the project, its store,
other programs' directories and every unix socket are not there at all.
Loaded by path from launcher.py: standard library and linux.py only.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

WORK_DIR = "/tmp"
SHARED_MEMORY_DIR = "/dev/shm"
NEW_ROOT = "/tmp"  # where the new root is assembled, in this mount namespace only
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
DEV_LINKS = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
             "/dev/stderr": "/proc/self/fd/2"}
WORK_INODES = 4096
SHM_INODES = 256


def interpreter_paths(prefixes: list[str], site_packages: list[str]) -> list[str]:
    """The interpreter's prefixes (its standard library), its binary's directory
    and the caller's site-packages: never the caller's whole venv or project."""
    candidates = {sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    candidates |= {os.path.realpath(path) for path in site_packages}
    candidates |= {os.path.realpath(path) for path in prefixes if os.path.isdir(os.path.join(path, "lib"))
                   and not os.path.isfile(os.path.join(path, "pyvenv.cfg"))}
    return [path for path in candidates if os.path.isdir(path)]


def _outermost(paths) -> list[str]:
    """Drop every path that lies inside another one of the set."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(_is_within(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def prepare_private_view(linux: ModuleType, prefixes: list[str], site_packages: list[str]) -> dict:
    """First half, with the caller's own file access: detached read-only copies
    (open_tree) of everything the new root will hold."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    links = {path: os.readlink(path) for path in SYSTEM_PATHS if os.path.islink(path)}
    real = [path for path in SYSTEM_PATHS if path not in links and os.path.exists(path)]
    kept = _outermost(real + interpreter_paths(prefixes, site_packages))
    trees = {path: linux.clone_mount_tree(path) for path in kept}
    devices = {path: linux.clone_mount_tree(path) for path in DEVICES if os.path.exists(path)}
    return {"links": links, "trees": trees, "devices": devices}


def finish_private_view(linux: ModuleType, prepared: dict, owner: tuple[int, int], work_mb: int,
                        shm_mb: int) -> str:
    """Second half, as the sandbox's uid (what it creates belongs to a mapped id):
    assemble the new root, switch to it, drop the old one. Returns a one-line
    description of what holds."""
    linux.mount("tmpfs", NEW_ROOT, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,nr_inodes=1024,mode=0755")
    for path, target in prepared["links"].items():
        os.symlink(target, NEW_ROOT + path)
    read_only = linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID
    for path, tree in prepared["trees"].items():
        _attach(linux, tree, path, read_only | linux.MOUNT_ATTR_NODEV)
    for path, tree in prepared["devices"].items():
        _attach(linux, tree, path, linux.MOUNT_ATTR_NOSUID)  # writable: /dev/null takes writes
    for path, target in DEV_LINKS.items():
        os.symlink(target, NEW_ROOT + path)
    uid, gid = owner
    _tmpfs(linux, WORK_DIR, f"size={work_mb}m,nr_inodes={WORK_INODES},mode=0700,uid={uid},gid={gid}")
    _tmpfs(linux, SHARED_MEMORY_DIR, f"size={shm_mb}m,nr_inodes={SHM_INODES},mode=1777")
    os.makedirs(NEW_ROOT + "/proc")
    # Before the switch: a user namespace may mount a proc only while a full one is in view.
    linux.mount("proc", NEW_ROOT + "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    os.chdir(NEW_ROOT)
    linux.pivot_root(".", ".")  # the old root is stacked on the new one ...
    linux.detach_mount(".")  # ... and detached: nothing of it stays reachable
    os.chdir("/")
    linux.set_mount_attributes("/", linux.MOUNT_ATTR_RDONLY, recursive=False)
    shown = ", ".join(sorted([*prepared["links"], *prepared["trees"]]))
    return (f"new root holding only {shown} read-only, {', '.join(sorted(prepared['devices']))}, "
            f"its own /proc; private {work_mb} MB tmpfs at {WORK_DIR} ({WORK_INODES} inodes), "
            f"{shm_mb} MB {SHARED_MEMORY_DIR} ({SHM_INODES} inodes); the host's root detached")


def _attach(linux: ModuleType, tree_fd: int, path: str, attributes: int) -> None:
    target = NEW_ROOT + path
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.isdir(f"/proc/self/fd/{tree_fd}"):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
    linux.attach_mount_tree(tree_fd, target)
    os.close(tree_fd)
    linux.set_mount_attributes(target, attributes)


def _tmpfs(linux: ModuleType, path: str, options: str) -> None:
    os.makedirs(NEW_ROOT + path, mode=0o755, exist_ok=True)
    linux.mount("tmpfs", NEW_ROOT + path, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, options)
