"""Tasks are data: tasks/*.toml → Task objects with their samples.

    loading.py    a task file → Task (validated, versioned, content-hashed); its samples
    formats.py    a task in another prompt format: the variant task `task@format`
    cli.py        `evalkit tasks`

Where a task's rows come from and how its prompts are rendered is evalkit/data, below the kinds.
"""

from evalkit.tasks.loading import Sample, Task, load_task

__all__ = ["Sample", "Task", "load_task"]
