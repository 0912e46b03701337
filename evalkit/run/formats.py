"""`--formats`: each multiple-choice and generation task of a run also runs in the asked prompt formats,
on the same items. A format the task runs natively is its plain row; another is the variant task
`task@format` (evalkit/tasks/formats.py). A format a task cannot take is one line and skipped (kept in
the run's provenance and shown by the report); a format no task of the run can take is an error.

A suite can also choose the format a task's main row is scored in (`[suites.NAME.options.TASK] format =
"cloze-smollm2"`): that row is then the variant `task@format`, in the main table, the verdict and the
paired comparisons, and --formats puts the task's other formats (its own included) beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

from evalkit.config import TaskOptions
from evalkit.data import fewshot
from evalkit.errors import ConfigError
from evalkit.kinds import formats as kind_formats
from evalkit.kinds.formats import Format
from evalkit.tasks import Sample, Task
from evalkit.tasks import formats as task_formats


@dataclass
class Expanded:
    tasks: list[Task]  # each task followed by its format variants
    samples: dict[str, list[Sample]]
    options: dict[str, TaskOptions]
    formats: dict[str, dict] = field(default_factory=dict)  # task → {"rows": {format: result task}, "skipped": ...}
    notes: list[str] = field(default_factory=list)
    row_of: dict[str, str] = field(default_factory=dict)  # a --formats row → the main row it is a format of


@dataclass(frozen=True)
class Chosen:
    """A task whose main row a suite scores in another format: the task as its file defines it, and the format."""
    task: Task
    format: Format


def choose(task: Task, options: TaskOptions, where: str) -> tuple[Task, Chosen | None]:
    """The task a suite's `format` option makes its main row (the variant `task@format`; the task itself
    where the format is its own), with what it was made from; a format the task cannot take is one line."""
    if options.format is None:
        return task, None
    fmt = kind_formats.parse(options.format, where)
    why = task_formats.cannot_take(task, fmt, shots(task, options))
    if why is not None:
        raise ConfigError(f"{where} = {options.format!r}: {task.name} cannot take it ({why})")
    if task_formats.is_native(task, fmt):
        return task, None
    return task_formats.variant(task, fmt), Chosen(task, fmt)


def shots(task: Task, options: TaskOptions) -> int:
    if task.handler.own_data:
        return 0
    return fewshot.settings(task).num_fewshot if options.num_fewshot is None else options.num_fewshot


def expand(tasks: list[Task], samples: dict[str, list[Sample]], options: dict[str, TaskOptions],
           asked: list[Format], chosen: dict[str, Chosen] | None = None) -> Expanded:
    """`chosen`: the main rows a suite scores in another format (by their `task@format` name)."""
    out = Expanded([], dict(samples), dict(options))
    taken = {fmt.name: False for fmt in asked}
    chosen = chosen or {}
    for task in tasks:
        out.tasks.append(task)
        if not asked:
            continue
        own = chosen[task.name].task if task.name in chosen else task  # what the other formats are made from
        rows, skipped = {}, {}
        for fmt in asked:
            why = task_formats.cannot_take(own, fmt, shots(own, options[task.name]))
            if why is not None:
                skipped[fmt.name] = why
                continue
            taken[fmt.name] = True
            if fmt.name == task.format or (own is task and task_formats.is_native(task, fmt)):
                rows[fmt.name] = task.name
                continue
            variant = own if task_formats.is_native(own, fmt) else task_formats.variant(own, fmt)
            out.tasks.append(variant)
            out.samples[variant.name], out.options[variant.name] = samples[task.name], options[task.name]
            out.row_of[variant.name] = task.name
            rows[fmt.name] = variant.name
        if rows:  # the main row is a row of its own, labelled by its format (or the task's formulation)
            rows = {_native_label(task, rows): task.name, **{k: v for k, v in rows.items() if v != task.name}}
        out.formats[task.name] = {"rows": rows, "skipped": skipped}
        if skipped:
            out.notes.append(_skipped_note(task, skipped, len(asked)))
    for name, used in taken.items():
        if not used:
            whys = [f"{t}: {info['skipped'][name]}" for t, info in out.formats.items() if name in info["skipped"]]
            raise ConfigError(f"--formats {name}: no task of this run can take it ({'; '.join(whys)})")
    return out


def _skipped_note(task: Task, skipped: dict[str, str], asked: int) -> str:
    """One line per task: the formats it skips, grouped by the reason."""
    if len(skipped) == asked and all(why.endswith(f"is a {task.kind} task") for why in skipped.values()):
        return f"--formats: {task.name} is a {task.kind} task, which takes none of them"
    by_reason: dict[str, list[str]] = {}
    for name, why in skipped.items():
        by_reason.setdefault(why, []).append(name)
    return f"--formats: {task.name} skips " + "; ".join(f"{', '.join(names)}: {why}" for why, names in by_reason.items())


def _native_label(task: Task, rows: dict[str, str]) -> str:
    """An asked format that is the main row names it; else the format a suite chose for it, or the task's
    declared formulation, or `default`."""
    for name, target in rows.items():
        if target == task.name:
            return name
    return task.format or task_formats.native(task)
