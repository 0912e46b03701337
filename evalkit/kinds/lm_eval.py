"""lm-evaluation-harness tasks run on evalkit's engine: `--tasks lm_eval:arc_easy` or a task file

    name = "arc_easy_local"
    version = 1
    kind = "lm_eval"
    task = "arc_easy"            # an lm-eval task, group (mmlu) or tag, or a path to a task YAML
    [lm_eval]                    # lm-eval config keys applied to every leaf task, e.g. local data:
    dataset_path = "json"
    dataset_kwargs = { data_files = { test = "$EVALKIT_DATA_DIR/arc/test.jsonl" } }
    # evalkit's own keys here: include_path (folders of task YAMLs), fewshot_seed (lm-eval's 1234)

lm-eval builds the task (its YAML, Jinja, filters, `!function` hooks) and its Instances; each
becomes an evalkit request (loglikelihood and multiple_choice → LoglikelihoodRequest,
loglikelihood_rolling → RollingRequest, generate_until → GenerationRequest), answered through
evalkit's cache and backends; the task's own filters, process_results and aggregations score them
(evalkit/kinds/lm_eval_scores.py). A sample is one lm-eval document; its row carries the document
and the Instances' arguments, so the requests are a pure function of the row.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from evalkit.config import check_keys
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import lm_eval_scores, lm_eval_tasks
from evalkit.kinds.base import TaskKind
from evalkit.types import GenerationRequest, LoglikelihoodRequest, RollingRequest

OWN_KEYS = {"include_path", "fewshot_seed"}
FEWSHOT_SEED = 1234  # lm-eval's default fewshot_random_seed: the same examples as a plain `lm_eval` run
MAX_GEN_TOKS = 256  # lm-eval's HFLM default when a task gives no max_gen_toks
GENERATION_KEYS = {"until", "max_gen_toks", "do_sample", "temperature", "top_p"}
_LOADED: dict[tuple, lm_eval_tasks.Loaded] = {}


def _section(task) -> dict[str, Any]:
    return task.section("lm_eval")


def validate(task) -> None:
    spec = task.settings.get("task")
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{task.path}: kind = \"lm_eval\" needs `task`, an lm-eval task, group or tag name "
                          f"(e.g. task = \"arc_easy\"; `evalkit tasks --lm-eval` lists them)")
    if not isinstance(_section(task), dict):
        raise ConfigError(f"{task.path}: [lm_eval] must be a table of lm-eval config keys")
    seed = _section(task).get("fewshot_seed", FEWSHOT_SEED)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{task.path}: [lm_eval].fewshot_seed = {seed!r}; use a whole number")
    lm_eval_tasks.require_lm_eval(str(task.path))
    check_keys(_section(task), _config_keys() | OWN_KEYS, str(task.path), prefix="lm_eval.")


def _config_keys() -> set[str]:
    """The keys lm-eval's TaskConfig takes: a misspelt one is named here, not as lm-eval's TypeError."""
    import dataclasses

    from lm_eval.api.task import TaskConfig  # lm-eval is an optional extra, imported for lm_eval tasks only

    return {f.name for f in dataclasses.fields(TaskConfig)}


def _resolve(value, base: Path):
    """Data file paths: environment variables expanded, relative ones from the task file's folder."""
    if isinstance(value, dict):
        return {k: _resolve(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    path = Path(os.path.expanduser(os.path.expandvars(value)))
    return str(path if path.is_absolute() else base / path)


def overrides(task) -> dict[str, Any]:
    # TOML has no null: an empty string unsets an lm-eval key (dataset_name, training_split ...)
    config = {k: None if v == "" else v for k, v in _section(task).items() if k not in OWN_KEYS}
    files = (config.get("dataset_kwargs") or {}).get("data_files")
    if files is not None:
        files = _resolve(files, task.path.parent)
        for path in [files] if isinstance(files, str) else (files.values() if isinstance(files, dict) else files):
            for one in [path] if isinstance(path, str) else path:
                if not Path(one).exists() and not lm_eval_tasks.has_placeholders(one):  # checked per leaf
                    raise ConfigError(f"{task.path}: [lm_eval].dataset_kwargs.data_files: {one} does not exist "
                                      "(is EVALKIT_DATA_DIR set?)")
        config["dataset_kwargs"] = {**config["dataset_kwargs"], "data_files": files}
    return config


def loaded(task, num_fewshot: int | None) -> lm_eval_tasks.Loaded:
    """lm-eval's Task objects for this task file, built once per process and few-shot count."""
    seed = _section(task).get("fewshot_seed", FEWSHOT_SEED)
    config = overrides(task)  # checked on every load: a data file may have gone since the last
    key = (task.name, str(task.path), task.content_hash, num_fewshot, seed)
    if key not in _LOADED:
        includes = tuple(str(_resolve(p, task.path.parent)) for p in _as_list(_section(task).get("include_path")))
        result = lm_eval_tasks.load(str(task.path), task.settings["task"], config, includes)
        for name, lm_task in result.tasks.items():
            _check_supported(task, name, lm_task)
            if num_fewshot is not None:
                if num_fewshot and lm_task.fewshot_docs() is None:
                    raise ConfigError(f"{task.path}: lm-eval task {name!r} has no split to draw few-shot examples "
                                      f"from, so num_fewshot = {num_fewshot} cannot apply; use 0 or leave it unset")
                lm_task.set_config(key="num_fewshot", value=num_fewshot)
            lm_task.set_fewshot_seed(seed=seed)
        _LOADED[key] = result
    return _LOADED[key]


def _as_list(value) -> list:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _check_supported(task, name: str, lm_task) -> None:
    output = getattr(lm_task, "OUTPUT_TYPE", None)
    if output not in lm_eval_tasks.SUPPORTED_OUTPUT_TYPES:
        raise ConfigError(f"{task.path}: lm-eval task {name!r} has output_type {output!r}; evalkit runs "
                          f"{', '.join(lm_eval_tasks.SUPPORTED_OUTPUT_TYPES)}")
    if getattr(lm_task, "MULTIMODAL", False):
        raise ConfigError(f"{task.path}: lm-eval task {name!r} needs images or audio; evalkit's backends take text")


def load_samples(task, options) -> list[tuple[str, dict[str, Any], str]]:
    """(id, row, origin) per document: the first `limit` of each leaf task, as lm-eval's --limit."""
    if options.subjects:
        raise ConfigError(f"task {task.name!r}: `subjects` does not apply to lm-eval tasks; name a subtask "
                          f"or a group in `task` instead")
    result = loaded(task, options.num_fewshot)
    several = len(result.tasks) > 1
    samples = []
    for name, lm_task in result.tasks.items():
        size = len(lm_task.eval_docs)
        picked = None
        if options.limit is not None and options.sample_seed is not None and options.limit < size:
            picked = sorted(random.Random(options.sample_seed).sample(range(size), options.limit))
        lm_task.build_all_requests(limit=None if picked else options.limit, samples=picked)
        by_doc: dict[int, list] = {}
        for instance in lm_task.instances:
            by_doc.setdefault(instance.doc_id, []).append(instance)
        for doc_id, instances in by_doc.items():
            instances.sort(key=lambda i: i.idx)
            row = {"subtask": name, "doc_id": doc_id, "doc": _jsonable(instances[0].doc),
                   "requests": [{"type": i.request_type, "args": _jsonable(list(i.args)), "repeats": i.repeats}
                                for i in instances]}
            samples.append((f"{name}/{doc_id}" if several else str(doc_id), row, f"lm_eval:{name}:{doc_id}"))
    return samples


def _jsonable(value):
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def check_sample(task, sample) -> None:
    for request in sample.row["requests"]:
        if request["type"] == "generate_until":
            unknown = sorted(set(request["args"][1]) - GENERATION_KEYS)
            if unknown:
                raise DataError(f"{sample.origin}: generation_kwargs {unknown} of lm-eval task "
                                f"{sample.row['subtask']!r} are not supported; evalkit supports "
                                f"{', '.join(sorted(GENERATION_KEYS))}")


def convert(request: dict[str, Any], repeat: int = 0):
    """One lm-eval Instance's arguments → the evalkit request a backend answers."""
    kind, args = request["type"], request["args"]
    if kind in ("loglikelihood", "multiple_choice"):
        return LoglikelihoodRequest(args[0], args[1])
    if kind == "loglikelihood_rolling":
        return RollingRequest(args[0])
    context, gen = args[0], args[1]
    until = gen.get("until") or ()
    sampled = bool(gen.get("do_sample", False))
    return GenerationRequest(prompt=context, max_new_tokens=int(gen.get("max_gen_toks", MAX_GEN_TOKS)),
                             stop=tuple([until] if isinstance(until, str) else until),
                             temperature=float(gen.get("temperature", 1.0)) if sampled else 0.0,
                             top_p=float(gen.get("top_p", 1.0)) if sampled else 1.0, seed=repeat)


def requests(task, sample, options) -> list:
    # an Instance with repeats > 1 (self-consistency) is asked that many times, each with its own seed
    return [convert(r, repeat) for r in sample.row["requests"] for repeat in range(r["repeats"] or 1)]


def score(task, samples, responses, options):
    result = loaded(task, options.get("num_fewshot"))
    return lm_eval_scores.score(result, samples, responses, seed=options.get("seed", 0))


class LmEvalKind(TaskKind):
    name = "lm_eval"
    task_keys = frozenset({"task", "lm_eval"})
    default_primary = ("acc",)
    own_data = True
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(lm_eval_scores.compare)
    lower_is_better = staticmethod(lm_eval_scores.lower_is_better)

    def load_samples(self, task, options):
        return load_samples(task, options)

    def health_of(self, records):
        """As the records read: multiple choice (each has the pick and the gold positions), generation (the
        filtered answers), or None (log-likelihood, rolling, or a group that mixes output types, where no
        one check applies to every item)."""
        if records and all("chosen" in r["scores"] and "gold" in r["scores"] for r in records):
            return "choice"
        if records and all("filtered" in r["scores"] for r in records):
            return "output"
        return None
