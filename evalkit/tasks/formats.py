"""A task in another prompt format: the same items, a variant task named `task@format`.

The task file declares what its kind needs to put the question another way:

    [formats]
    native = "mc"                 # what the task's own [choice] table is (mc, cloze or cloze-smollm2)
    [formats.cloze]               # the [choice] keys that change for the cloze formulation
    prompt = "Question: {{ question.strip() }}\\nAnswer:"
    choices = "choices"

Formats that only change how the prompt is presented (chat, fewshot-multiturn) need no declaration:
the kinds registry (evalkit/kinds/formats.py) says which kinds take them. The task as its file defines
it keeps its plain name, so a run with formats shares its rows and cache with a run without them.
"""

from __future__ import annotations

from dataclasses import replace

from evalkit.config import check_keys
from evalkit.data import fewshot
from evalkit.errors import ConfigError
from evalkit.kinds import formats
from evalkit.kinds.formats import Format
from evalkit.types import stable_hash


def declared(task) -> dict:
    return task.settings.get("formats", {})


def native(task) -> str:
    """The name of the task's own formulation, or `default` where it declares none."""
    return declared(task).get("native", formats.NATIVE)


def validate(task) -> None:
    """The [formats] table: `native` and one table per formulation, each a valid variant of the task."""
    table = declared(task)
    if not table:
        return
    if not isinstance(table, dict):
        raise ConfigError(f"{task.path}: [formats] must be a table, e.g. [formats.cloze] with the template keys "
                          "that change")
    check_keys(table, {"native", *formats.FORMULATIONS}, str(task.path), prefix="formats.")
    if task.kind not in formats.FORMATS["mc"].kinds:
        raise ConfigError(f"{task.path}: [formats] declares formulations, which only tasks of kind choice take "
                          f"(this one is {task.kind}); remove the table (chat and fewshot-multiturn need none)")
    if table.get("native", formats.NATIVE) not in (formats.NATIVE, *formats.FORMULATIONS):
        raise ConfigError(f"{task.path}: formats.native = {table['native']!r}; use one of "
                          f"{', '.join(formats.FORMULATIONS)} (what the [{task.kind}] table already is)")
    for name in formats.FORMULATIONS:
        if name in table:
            if not isinstance(table[name], dict):
                raise ConfigError(f"{task.path}: [formats.{name}] must be a table of [{task.kind}] keys")
            variant(task, formats.FORMATS[name]).handler.validate(variant(task, formats.FORMATS[name]))


def cannot_take(task, fmt: Format, num_fewshot: int) -> str | None:
    """Why the task cannot run in this format (one line), or None."""
    if task.kind not in fmt.kinds:
        return f"for {'/'.join(sorted(fmt.kinds))} tasks, and {task.name} is a {task.kind} task"
    if fmt.formulation and fmt.formulation != native(task) and fmt.formulation not in declared(task):
        return (f"{task.path} declares no [formats.{fmt.formulation}], the [{task.kind}] keys that put its "
                f"questions as {fmt.formulation}")
    if fmt.chat and "contexts" in task.section("choice"):
        return f"{task.name} scores a shared suffix after each option (partial scoring), which has no chat form"
    if fmt.fewshot_turns and num_fewshot == 0:
        return f"{task.name} runs 0-shot here, so there are no examples to make turns of: it would repeat chat"
    return None


def is_native(task, fmt: Format) -> bool:
    """Whether the format is the task as its file defines it (its row is the plain task's)."""
    same_formulation = fmt.formulation in (None, native(task))
    primary = task.section(task.kind).get("primary", task.section(task.kind).get("metrics", ["acc"]))
    return same_formulation and not fmt.chat and (fmt.headline is None or fmt.headline == primary[0])


def variant(task, fmt: Format):
    """The task in this format: its kind's table with the formulation's keys, the headline metric first."""
    settings = dict(task.settings)
    section = dict(task.section(task.kind))
    if fmt.formulation and fmt.formulation != native(task):
        section.update(declared(task).get(fmt.formulation, {}))
    if fmt.headline:
        metrics = section.get("metrics", ["acc", "acc_norm"])
        section["metrics"] = list(dict.fromkeys([*metrics, fmt.headline]))
        section["primary"] = [fmt.headline]
    settings[task.kind] = section
    return replace(task, name=f"{task.name}@{fmt.name}", settings=settings, format=fmt.name,
                   content_hash=stable_hash([task.content_hash, fmt.name])[:16])


def takes(task) -> list[str]:
    """The formats the task can run in (its own formulation marked), for `evalkit tasks`; fewshot-multiturn
    also needs a few-shot run."""
    shots = 0 if task.handler.own_data else min(1, fewshot.settings(task).max_fewshot)
    names = [name for name, fmt in formats.FORMATS.items() if cannot_take(task, fmt, num_fewshot=shots) is None]
    return [f"{name} (own)" if is_native(task, formats.FORMATS[name]) else name for name in names]
