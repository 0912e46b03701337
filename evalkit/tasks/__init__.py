"""Tasks are data: tasks/*.toml → Task objects with their samples.

    loading.py    a task file → Task (validated, versioned, content-hashed); its samples
    sources.py    data sources tried in order: data dir, a package's copy, a file, the hub
    fewshot.py    few-shot example selection as lm-evaluation-harness does it
    templates.py  the Jinja environment prompts are rendered with
"""

from evalkit.tasks.loading import Sample, Task, load_task

__all__ = ["Sample", "Task", "load_task"]
