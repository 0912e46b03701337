"""A task's rows and prompts: where the rows come from, the few-shot examples, the templates. Below the
kinds, which render their prompts with it, and the task loader (evalkit/tasks), which reads the files.

    sources.py    data sources tried in order: data dir, a package's copy, a file, the hub
    fewshot.py    few-shot example selection as lm-evaluation-harness does it
    templates.py  the Jinja environment prompts are rendered with
"""
