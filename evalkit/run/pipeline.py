"""task × model → requests → cached responses → scores, all kept in the store.

Responses are committed the moment the backend yields them, so a killed run
loses nothing finished; a rerun asks the backend only for what is missing.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.config import Config, TaskOptions
from evalkit.data import fewshot
from evalkit.errors import ConfigError
from evalkit.judge import check_judges, judge_suite
from evalkit.kinds import formats as kind_formats
from evalkit.kinds.formats import Format
from evalkit.models import ModelHandle, chat_renderer, fetch_responses, local_pool, ray_pool
from evalkit.models.parallel import World, world
from evalkit.report import slices
from evalkit.run import formats
from evalkit.store import Store, provenance
from evalkit.tasks import Sample, Task, load_task
from evalkit.train import prepare_model
from evalkit.types import stable_hash


def evaluate_task(handle: ModelHandle, task: Task, samples: list[Sample], options: TaskOptions, store: Store,
                  run_id: int | None, seed: int, progress=None, ranks: World = World(),
                  chat_template=None) -> list[dict[str, Any]]:
    """chat_template: the model's template as a function of messages, for a task in a chat format."""
    handler = task.handler
    opts = {"seed": seed, "num_fewshot": options.num_fewshot, **options.extra}
    if chat_template is not None:
        opts["chat_template"] = chat_template
    per_sample = [handler.requests(task, sample, opts) for sample in samples]
    flat = [request for requests in per_sample for request in requests]
    item_of = [index for index, requests in enumerate(per_sample) for _ in requests]  # progress counts items
    responses = fetch_responses(handle, flat, store, progress, ranks, items=item_of)
    if not ranks.is_main:  # the main rank scores and records; this rank's responses are in the store
        return []
    grouped, start = [], 0
    for requests in per_sample:
        grouped.append(responses[start : start + len(requests)])
        start += len(requests)
    records, metrics = handler.score(task, samples, grouped, opts)
    fields = {sample.id: slices.row_fields(sample.row) for sample in samples}  # what a report can slice by
    for record in records:
        record["fields"] = fields.get(record["sample_id"], {})
    for metric in metrics:
        metric.setdefault("info", {})["task_version"] = task.version
    store.put_samples(run_id, handle.spec.name, task.name, records)
    store.put_results(run_id, handle.spec.name, task.name, metrics)
    return metrics


@dataclass(frozen=True)
class Plan:
    tasks: list[Task]
    samples: dict[str, list[Sample]]
    options: dict[str, TaskOptions]
    slices: dict[str, list[str]]  # task → the fields its leaderboard slices by (declared, then --slice-by)
    formats: dict[str, dict] = field(default_factory=dict)  # task → its rows per --formats entry (run/formats.py)
    row_of: dict[str, str] = field(default_factory=dict)  # a --formats row → the main row it is a format of
    chosen: dict[str, str] = field(default_factory=dict)  # a main row → the format its suite scores it in

    def needs_chat(self) -> bool:
        return any(kind_formats.of(t) is not None and kind_formats.of(t).chat for t in self.tasks)


def plan_suite(config: Config, suite_name: str, slice_by: list[str] = (), asked_formats: list[Format] = (),
               notes: list[str] | None = None) -> Plan:
    """The suite's tasks, samples and options, each task followed by its --formats variants (on the same
    samples); a skipped format is added to `notes`."""
    suite = config.suite(suite_name)
    search = [config.root / "tasks"]
    tasks, options, chosen = [], {}, {}
    for entry in suite.tasks:
        task = load_task(entry, search)
        # a suite names a task by name or by file path (--tasks ./my_task.toml); options follow either
        option = suite.options.get(entry) or suite.options.get(task.name, TaskOptions())
        task, made_from = formats.choose(task, option, f"{config.path}: suites.{suite_name}.options.{entry}.format")
        tasks.append(task)
        options[task.name] = option
        if made_from is not None:
            chosen[task.name] = made_from
    samples = {t.name: t.load_samples(options[t.name]) for t in tasks}
    for task in tasks:  # few-shot data is found (or its absence said) before any model loads
        if task.handler.own_data:  # lm_eval: lm-eval's task found them while loading its samples
            continue
        shots = options[task.name].num_fewshot
        if shots is None:  # the suite leaves it to the task file
            shots = fewshot.settings(task).num_fewshot
        if shots:
            fewshot.pool(task, options[task.name].extra)
    sliced = slice_fields(tasks, samples, list(slice_by))
    expanded = formats.expand(tasks, samples, options, list(asked_formats), chosen)
    if notes is not None:
        notes += expanded.notes
    return Plan(expanded.tasks, expanded.samples, expanded.options, sliced, expanded.formats, expanded.row_of,
                {name: c.format.name for name, c in chosen.items()})


def slice_fields(tasks: list[Task], samples: dict[str, list[Sample]], asked: list[str]) -> dict[str, list[str]]:
    """Each task's slice fields, checked on every row before any model loads: its declared `slices`,
    and the asked fields on the tasks whose rows have them (a field no task has is an error)."""
    fields_by_task = {t.name: [slices.row_fields(s.row) for s in samples[t.name]] for t in tasks}
    chosen = {}
    for task in tasks:
        chosen[task.name] = slices.chosen_fields(task.name, task.kind, task.settings.get("slices", []), asked,
                                                 fields_by_task[task.name])
        for field in chosen[task.name]:
            slices.check_rows(task.name, field, [(s.origin, f) for s, f in zip(samples[task.name],
                                                                             fields_by_task[task.name])])
    for field in asked:
        if not any(field in fields for fields in chosen.values()):
            raise ConfigError(slices.unknown_field_message(field, fields_by_task))
    return chosen


def run_provenance(config: Config, plan: Plan, handles: dict[str, ModelHandle], suite: str) -> dict[str, Any]:
    info = provenance.collect(config.root)
    info["suite"] = suite
    info["seed"] = config.seed
    info["models"] = {name: {"fingerprint": h.fingerprint, "folder": str(h.folder), "spec": asdict(h.spec)}
                      for name, h in handles.items()}
    info["tasks"] = {t.name: {"version": t.version, "kind": t.kind, "file": str(t.path), "content_hash": t.content_hash,
                              "options": _options(plan.options[t.name]), "n_samples": len(plan.samples[t.name]),
                              "data_hash": stable_hash([s.row for s in plan.samples[t.name]])[:16],
                              "data_origin": plan.samples[t.name][0].origin.rsplit(":", 1)[0] if plan.samples[t.name] else None,
                              **({"slices": plan.slices[t.name]} if plan.slices.get(t.name) else {}),
                              **_format_info(plan, t)}
                     for t in plan.tasks}
    return info


def _options(options: TaskOptions) -> dict[str, Any]:
    """The task's options as recorded; `format` only where a suite set it, so the runs recorded before the
    key existed keep the same options (the report compares them to tell whether two results share items)."""
    recorded = asdict(options)
    if recorded["format"] is None:
        del recorded["format"]
    return recorded


def _format_info(plan: Plan, task: Task) -> dict[str, Any]:
    """A --formats row names its format and the main row it is a format of; a main row a suite scores in
    another format names that format and who chose it; a task run in formats lists its rows and what it
    skipped."""
    if task.name in plan.row_of:
        main = plan.row_of[task.name]
        label = next(name for name, row in plan.formats[main]["rows"].items() if row == task.name)
        return {"format": label, "format_of": main}
    info = {"format": plan.chosen[task.name], "format_chosen_by": "suite"} if task.name in plan.chosen else {}
    return {**info, "formats": plan.formats[task.name]} if plan.formats.get(task.name) else info


def run(config: Config, model_names: list[str], suite_name: str, store: Store, ui,
        command_line: dict[str, Any] | None = None, slice_by: list[str] = (),
        asked_formats: list[Format] = ()) -> int | None:
    """Evaluate every model on every task of the suite (and each task in the asked formats); returns the
    run id (None on a non-main rank of a data-parallel launch, which only computes its share)."""
    ranks = world()
    skipped: list[str] = []
    plan = plan_suite(config, suite_name, slice_by, asked_formats, skipped)
    for note in skipped:
        ui.note(note)
    check_judges(config, config.suite(suite_name).judges)
    handles = {name: ui.step(f"preparing model {name}", prepare_model, config, name, store) for name in model_names}
    templates = {name: chat_renderer(h) for name, h in handles.items()} if plan.needs_chat() else {}
    info = run_provenance(config, plan, handles, suite_name)
    info["parallel"] = parallel_info(ranks)
    info["command_line"] = command_line or {}  # flags that overrode the config for this run
    run_id = None
    if ranks.is_main:
        run_id = store.start_run({"models": model_names, "suite": suite_name, "config": config.raw}, info)
    try:
        timings = _evaluate_all(config, plan, handles, store, run_id, ui, ranks, templates)
        computed = ranks.gather(sum(h.computed for h in handles.values()))
        if not ranks.is_main:
            return None
        if config.suite(suite_name).judges:  # pairwise judging of the models' answers: evalkit/judge/run.py
            info["judge"] = judge_suite(config, model_names, config.suite(suite_name), store, ui, handles)
        info["parallel"] = {**parallel_info(ranks), "responses_by_rank": computed}  # with the workers' counts
    except BaseException as err:  # the store says the run did not finish; its responses stay cached
        if run_id is not None:
            store.finish_run(run_id, {**info, "error": f"{type(err).__name__}: {err}"[:500]},
                             status="interrupted" if isinstance(err, KeyboardInterrupt) else "failed")
        raise
    info["timings_s"] = timings
    info["environment"] = provenance.environment()  # now that the models have run: their thread count, GPU
    store.finish_run(run_id, info)
    return run_id


def parallel_info(ranks: World) -> dict[str, Any]:
    """How the work was spread: the launcher's process world, worker processes on this machine, and the Ray
    cluster under --ray."""
    info = ranks.describe()
    if processes := local_pool.describe():
        info["processes"] = processes
    pool = ray_pool.active()
    if pool is not None:
        info["ray"] = pool.describe()
    return info


def _evaluate_all(config: Config, plan: Plan, handles: dict[str, ModelHandle], store: Store, run_id: int | None, ui,
                  ranks: World, templates: dict[str, Any]) -> dict[str, float]:
    timings: dict[str, float] = {}
    for name, handle in handles.items():
        for task in plan.tasks:
            started = time.perf_counter()
            with ui.progress(f"{name} · {task.name}") as progress:
                chat = templates.get(name) if kind_formats.of(task) and kind_formats.of(task).chat else None
                evaluate_task(handle, task, plan.samples[task.name], plan.options[task.name], store, run_id,
                              config.seed, progress, ranks, chat_template=chat)
            timings[f"{name}/{task.name}"] = round(time.perf_counter() - started, 3)
    return timings
