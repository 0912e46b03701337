"""The free memory the sandbox and the CPU linear-layer backend size their work by."""

from pathlib import Path

from evalkit.system.memory import available_memory


def test_available_memory_is_the_kernels_memavailable_in_bytes():
    line = next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemAvailable:"))
    kernel = int(line.split()[1]) * 1024
    assert abs(available_memory() - kernel) < kernel // 2  # read twice a moment apart: the same order
