"""The filesystem a sandboxed program sees, built inside its own mount namespace.

Everything is read-only; home, temp and runtime directories are covered by
empty tmpfs mounts (so ~/.ssh, ssh-agent and docker sockets are out of sight);
the interpreter's own directories are mounted back where they were, read-only,
when they live under a covered directory; and /tmp becomes the program's
private, size-limited work directory. Loaded by path from launcher.py:
standard library and linux.py only.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

WORK_DIR = "/tmp"
SHARED_MEMORY_DIR = "/dev/shm"  # empty and writable: multiprocessing's semaphores live there
# Where secrets and host services usually live: homes (keys, tokens, shell
# history), temp dirs (agent sockets, other users' files), /run (docker.sock,
# D-Bus). A unix socket stays reachable without a network namespace, so
# hiding these matters as much as the network namespace does.
COVERED_DIRS = ("/root", "/home", "/tmp", "/var/tmp", "/dev/shm", "/run", "/mnt", "/media", "/srv")


def interpreter_dirs(prefixes: list[str]) -> list[str]:
    """Directories the sandboxed interpreter must still reach: its prefixes (the
    caller passes its own, since a venv's prefix is set by site) and its binary."""
    candidates = set(prefixes) | {sys.base_prefix, sys.base_exec_prefix}
    candidates.add(os.path.dirname(os.path.realpath(sys.executable)))
    return _outermost(os.path.realpath(path) for path in candidates if os.path.isdir(path))


def _outermost(paths) -> list[str]:
    """Drop every path that lies inside another one of the set."""
    unique = sorted(set(paths), key=len)
    kept: list[str] = []
    for path in unique:
        if not any(_is_within(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def dirs_to_cover(host_home: str | None) -> list[str]:
    candidates = list(COVERED_DIRS) + ([host_home] if host_home else [])
    real = [os.path.realpath(path) for path in candidates]
    return _outermost(path for path in real if path != "/" and os.path.isdir(path))


def prepare_private_view(linux: ModuleType, host_home: str | None, prefixes: list[str]) -> dict:
    """First half, with the caller's own file access (it can still reach the
    interpreter): make every mount private and read-only, clone the trees to
    bring back."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    notes: list[str] = []
    read_only = _make_everything_read_only(linux, notes)
    covered = dirs_to_cover(host_home)
    keep = [path for path in interpreter_dirs(prefixes) if any(_is_within(path, c) for c in covered)]
    trees = _clone_trees(linux, keep, notes)
    skipped = [c for c in covered if any(_is_within(k, c) for k in keep if k not in trees)]
    notes.extend(f"{c} visible (weaker: the interpreter lives there)" for c in skipped)
    covered = [c for c in covered if c not in skipped]
    return {"read_only": read_only, "covered": covered, "trees": trees, "notes": notes}


def finish_private_view(linux: ModuleType, prepared: dict, owner: tuple[int, int], work_mb: int) -> str:
    """Second half, as the sandbox's uid (so what it creates belongs to a mapped
    id): cover, bring the interpreter back, mount the work dir. Returns a
    one-line description of what holds."""
    covered, trees = prepared["covered"], prepared["trees"]
    for directory in covered:
        if directory == WORK_DIR:
            _mount_work_dir(linux, owner, work_mb)
        elif directory == SHARED_MEMORY_DIR:
            linux.mount("tmpfs", directory, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"size={work_mb}m,mode=1777")
        else:
            linux.mount("tmpfs", directory, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=0755")
        _attach_trees_under(linux, directory, trees)
        if directory not in (WORK_DIR, SHARED_MEMORY_DIR) and prepared["read_only"]:
            linux.set_mount_attributes(directory, linux.MOUNT_ATTR_RDONLY, recursive=False)
    if WORK_DIR not in covered:
        _mount_work_dir(linux, owner, work_mb)
    hidden = [c for c in covered if c not in (WORK_DIR, SHARED_MEMORY_DIR)]
    summary = "read-only root" if prepared["read_only"] else "writable root (weaker)"
    private = f"private {work_mb} MB tmpfs at {WORK_DIR} (and {SHARED_MEMORY_DIR})"
    return f"{summary}; {', '.join(hidden)} hidden; {private}" + "".join(
        f"; {note}" for note in prepared["notes"]
    )


def _make_everything_read_only(linux: ModuleType, notes: list[str]) -> bool:
    try:
        linux.set_mount_attributes("/", linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOSUID)
        return True
    except OSError as error:  # kernels before 5.12 lack mount_setattr
        notes.append(f"root not read-only ({error.strerror})")
        return False


def _clone_trees(linux: ModuleType, keep: list[str], notes: list[str]) -> dict[str, int]:
    trees: dict[str, int] = {}
    for path in keep:
        try:
            trees[path] = linux.clone_mount_tree(path)
        except OSError as error:  # kernels before 5.2 lack open_tree
            notes.append(f"cannot remount {path} ({error.strerror})")
    return trees


def _mount_work_dir(linux: ModuleType, owner: tuple[int, int], work_mb: int) -> None:
    uid, gid = owner
    options = f"size={work_mb}m,nr_inodes=4096,mode=0700,uid={uid},gid={gid}"
    linux.mount("tmpfs", WORK_DIR, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, options)


def _attach_trees_under(linux: ModuleType, directory: str, trees: dict[str, int]) -> None:
    for path, tree_fd in trees.items():
        if _is_within(path, directory):
            os.makedirs(path, mode=0o755, exist_ok=True)
            linux.attach_mount_tree(tree_fd, path)
            os.close(tree_fd)


def mount_proc(linux: ModuleType) -> None:
    """A /proc that shows only the sandbox's own pid namespace."""
    linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
