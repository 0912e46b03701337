"""How many threads a CPU forward may use: the cores other processes leave free, checked as it runs.

torch runs each operator on an OpenMP team of `torch.get_num_threads()` threads that meet at a barrier
at its end. When other processes want the same cores, one of the team is often off its core when the
others arrive, and the barrier waits for the scheduler to bring it back (milliseconds) once per operator:
a decode step is hundreds of small operators. Measured on 2 cores with SmolLM2-135M, 8 rows decoding
(bench/RESULTS.md has the figures): quiet, 2 threads 125-144 tokens/s and 1 thread 96-105; beside two
busy processes, 2 threads 16-21 and 1 thread 66-73; beside one, 31 against 106. `OMP_WAIT_POLICY=passive`
(workers sleep instead of spinning) only halves the loss (47). vLLM's CPU engine keeps its speed there
because its kernels are fewer and larger; evalkit instead sizes its team to the cores that are free.

`FreeCores.fit()` runs before every forward of a CPU model (a forward pre-hook, `follow_free_cores`), so
it must be cheap: it looks at the machine at most every `INTERVAL_S` seconds. The cores other processes
used since the last look are the busy time of this process's CPUs in /proc/stat less this process's own
CPU time; the team gets the cores left, rounded, between 1 and the count torch started with. It must run
on the thread that computes: OpenMP's team size belongs to the thread that asks for it.

`EVALKIT_THREADS=N` fixes the count (no following); `EVALKIT_THREADS=follow` or unset follows. Where
/proc/stat cannot be read (not Linux), the count stays what torch chose.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from evalkit.errors import ConfigError

INTERVAL_S = 0.5  # how often the machine is looked at: a busy neighbour shows within one interval
PROC_STAT = Path("/proc/stat")
_IDLE_FIELDS = (3, 4)  # idle, iowait in a /proc/stat cpuN line (after the name)


def fixed_thread_count() -> int | None:
    """The count EVALKIT_THREADS fixes, or None when it asks to follow the free cores (the default)."""
    value = os.environ.get("EVALKIT_THREADS", "follow").strip().lower()
    if value in ("", "follow", "auto"):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"EVALKIT_THREADS={value!r} is not a thread count: set a number (1 or more), or "
                          f"'follow' to size torch's threads to the cores other processes leave free")
    return int(value)


def busy_seconds(cpus: set[int], text: str | None = None) -> float | None:
    """Busy time (all but idle and iowait) of the given CPUs since boot, from /proc/stat; None if unreadable."""
    try:
        text = PROC_STAT.read_text() if text is None else text
    except OSError:
        return None
    ticks = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        fields = [int(v) for v in rest.split()[:8]]
        ticks += sum(v for i, v in enumerate(fields) if i not in _IDLE_FIELDS)
    return ticks / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    times = os.times()
    return times.user + times.system


def threads_for(cores: int, others: float, most: int) -> int:
    """The team size for `cores` CPUs of which other processes keep `others` busy."""
    return max(1, min(most, round(cores - others)))


class FreeCores:
    """Keeps torch's thread count at the cores other processes leave free (module docstring)."""

    def __init__(self, most: int | None = None, clock=time.monotonic):
        import torch  # here, not at the top: importing evalkit.train must stay cheap

        self.most = most or torch.get_num_threads()
        self.cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        self.clock = clock
        self.changes = 0  # how often the count changed (tests and benchmarks read it)
        self.threads = self.most
        self._last = self._look()

    def _look(self) -> tuple[float, float, float] | None:
        busy = busy_seconds(self.cpus) if self.cpus else None
        return None if busy is None else (self.clock(), busy, own_seconds())

    def fit(self, *_) -> None:
        if self._last is None or self.clock() - self._last[0] < INTERVAL_S:
            return
        now = self._look()
        if now is None:
            return
        wall = now[0] - self._last[0]
        others = max(0.0, (now[1] - self._last[1]) - (now[2] - self._last[2])) / wall
        self._last = now
        self.set(threads_for(len(self.cpus), others, self.most))

    def set(self, threads: int) -> None:
        import torch

        if threads != torch.get_num_threads():  # torch's own count: other code may have set it meanwhile
            self.changes += threads != self.threads
            torch.set_num_threads(threads)
        self.threads = threads


def follow_free_cores(module) -> FreeCores | None:
    """Sizes torch's thread team to the free cores before every forward of `module` (a CPU model), unless
    EVALKIT_THREADS fixes it; returns the follower (None when fixed)."""
    fixed = fixed_thread_count()
    if fixed is not None:
        import torch

        torch.set_num_threads(fixed)
        return None
    follower = FreeCores()
    module.register_forward_pre_hook(follower.fit)
    return follower
