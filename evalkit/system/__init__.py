"""What this machine has, read from the operating system; below everything that sizes its work by it.

    memory.py  MemAvailable from /proc/meminfo (the sandbox's parallelism, backends/cpu_linear.py)
"""
