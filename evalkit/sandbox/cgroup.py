"""A memory cgroup per sandboxed run: one limit for all of its memory.

An address-space limit is per process and does not see memfd, SysV shared
memory or tmpfs files (/dev/shm, /tmp); a memory cgroup charges all of them,
every process of the run together. The host creates one per run (cgroup v2
where it may delegate the memory controller, else v1's memory hierarchy), the
launcher moves itself in before anything else starts, and the host removes it
once the run's processes are gone, reading first whether its OOM killer fired.
Where neither is writable (an ordinary user without delegation) the run goes
on without one, and create() says why.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

_REMOVE_WAIT_S = 2.0


@dataclass(frozen=True)
class MemoryCgroup:
    path: str
    version: int

    @property
    def procs_file(self) -> str:
        return os.path.join(self.path, "cgroup.procs")

    def oom_killed(self) -> bool:
        name, key = ("memory.events", "oom_kill") if self.version == 2 else ("memory.oom_control", "oom_kill")
        try:
            with open(os.path.join(self.path, name), encoding="ascii") as file:
                fields = dict(line.split() for line in file if len(line.split()) == 2)
        except OSError:
            return False
        return int(fields.get(key, "0")) > 0

    def remove(self) -> None:
        """rmdir once the kernel has let go of the run's last process."""
        end = time.monotonic() + _REMOVE_WAIT_S
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)


def create(limit_mb: int) -> tuple[MemoryCgroup | None, str]:
    """A fresh cgroup limited to limit_mb (swap included), or None and the reason."""
    v1, v2 = _mounts()
    errors = []
    for version, parent in ((2, _v2_parent(v2)), (1, v1)):
        if parent is None:
            continue
        try:
            return _make(parent, version, limit_mb), ""
        except OSError as error:
            errors.append(f"cgroup v{version} at {parent}: {error.strerror}")
    return None, "; ".join(errors) or "no cgroup v2 with the memory controller and no v1 memory hierarchy"


def _make(parent: str, version: int, limit_mb: int) -> MemoryCgroup:
    path = os.path.join(parent, f"evalkit-sandbox-{os.getpid()}-{uuid.uuid4().hex[:12]}")
    os.mkdir(path)
    group = MemoryCgroup(path, version)
    try:
        limit = str(limit_mb * 1024 * 1024)
        if version == 2:
            _write(path, "memory.max", limit)
            _write(path, "memory.swap.max", "0", optional=True)
        else:
            _write(path, "memory.limit_in_bytes", limit)
            _write(path, "memory.memsw.limit_in_bytes", limit, optional=True)
    except OSError:
        group.remove()
        raise
    return group


def _write(folder: str, name: str, value: str, optional: bool = False) -> None:
    try:
        with open(os.path.join(folder, name), "w", encoding="ascii") as file:
            file.write(value)
    except OSError:
        if not optional:
            raise


def _mounts() -> tuple[str | None, str | None]:
    """(the v1 memory hierarchy, the v2 unified hierarchy), where mounted."""
    v1 = v2 = None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as file:
            for line in file:
                before, _, after = line.partition(" - ")
                fstype, _source, options = (after.split() + ["", "", ""])[:3]
                mount_point = before.split()[4]
                if fstype == "cgroup2" and v2 is None:
                    v2 = mount_point
                elif fstype == "cgroup" and "memory" in options.split(",") and v1 is None:
                    v1 = mount_point
    except OSError:
        pass
    return v1, v2


def _v2_parent(mount_point: str | None) -> str | None:
    """Our own v2 cgroup, where the memory controller can be given to children."""
    if mount_point is None:
        return None
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as file:
            own = next((line.split(":", 2)[2].strip() for line in file if line.startswith("0::")), None)
        parent = os.path.join(mount_point, (own or "/").lstrip("/"))
        with open(os.path.join(parent, "cgroup.controllers"), encoding="ascii") as file:
            if "memory" not in file.read().split():
                return None
        with open(os.path.join(parent, "cgroup.subtree_control"), encoding="ascii") as file:
            if "memory" not in file.read().split():
                _write(parent, "cgroup.subtree_control", "+memory")
    except (OSError, StopIteration):
        return None
    return parent
