"""Memory this machine has free now, read from the kernel: the sandbox sizes how many programs run at
once by it, and the CPU linear-layer backend how much it may hold."""

from __future__ import annotations


def available_memory() -> int | None:
    """Bytes of MemAvailable (free memory plus the page cache the kernel can drop); None where
    /proc/meminfo cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
