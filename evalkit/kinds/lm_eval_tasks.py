"""lm-evaluation-harness tasks loaded by lm-eval's own TaskManager, and its catalogue.

lm-eval is an optional extra (`pip install evalkit[lmeval]`) and costs seconds to import and
about 20 s to index its ~13,000 task configs, so it is imported here inside the functions and
indexed once per process. A task's YAML, Jinja prompts, filters and `!function` hooks are lm-eval's;
evalkit only passes overrides (lm-eval config keys, e.g. local `data_files`) and reads the Task
objects it builds.
"""

from __future__ import annotations

import copy as _copy
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from evalkit.data.sources import hub_reachable
from evalkit.errors import ConfigError

SUPPORTED_OUTPUT_TYPES = ("multiple_choice", "loglikelihood", "loglikelihood_rolling", "generate_until")
# datasets' builders that read local files: a task with one of these as dataset_path needs no hub
LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow", "pandas"}
DEFAULT_OUTPUT_TYPE = "generate_until"  # lm-eval's TaskConfig default when a YAML names none
# in a data_files override, filled per leaf task from its own config: one file per subtask of a group
LEAF_PLACEHOLDERS = {"{dataset_name}": "dataset_name", "{task}": "task"}
INSTALL_HINT = "install the optional extra: pip install 'evalkit[lmeval]'"


@dataclass
class Loaded:
    """The leaf tasks (in order) and groups lm-eval built for one evalkit task."""

    tasks: dict[str, Any]
    groups: dict[str, Any] = field(default_factory=dict)


def require_lm_eval(where: str):
    try:
        import lm_eval  # noqa: F401  (optional extra, imported only when a task uses it)
    except ImportError:
        raise ConfigError(f"{where}: kind = \"lm_eval\" needs lm-evaluation-harness; {INSTALL_HINT}") from None
    import lm_eval

    return lm_eval


@lru_cache(maxsize=8)
def task_manager(include_paths: tuple[str, ...] = (), include_defaults: bool = True):
    """lm-eval's index of task configs: built-in (about 20 s) and/or the given folders (fast)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include_paths) or None, include_defaults=include_defaults)


def _build(manager, name: str, overrides: dict[str, Any]):
    """lm-eval's own build of a task, group or tag, with config overrides applied to every leaf task.

    TaskManager.load takes names or whole configs only; overriding some keys of a registered task
    is what its factory does for a group's members, so that factory is called here (lm-eval pinned
    to 0.4.13 in the extra)."""
    if not overrides:
        return manager.load([name])
    entry = manager.task_index[name]
    factory = _per_leaf_files(manager._factory) if has_placeholders(_data_files(overrides)) else manager._factory
    built = factory.build(entry, overrides=overrides, registry=manager.task_index)
    return manager.load(built if isinstance(built, list) else [built])


def _data_files(config: dict[str, Any]):
    return (config.get("dataset_kwargs") or {}).get("data_files")


def _paths(files) -> list[str]:
    if isinstance(files, str):
        return [files]
    return [p for v in (files.values() if isinstance(files, dict) else files or []) for p in _paths(v)]


def has_placeholders(files) -> bool:
    return any(p in path for path in _paths(files) for p in LEAF_PLACEHOLDERS)


def _filled(files, own: dict[str, Any]):
    if isinstance(files, dict):
        return {k: _filled(v, own) for k, v in files.items()}
    if isinstance(files, list):
        return [_filled(v, own) for v in files]
    for placeholder, key in LEAF_PLACEHOLDERS.items():
        files = files.replace(placeholder, str(own.get(key)))
    return files


def _per_leaf_files(factory):
    """A copy of lm-eval's task factory that fills {dataset_name} and {task} in the data_files override
    from each leaf task's own config (before the overrides): one override serves a group whose
    subtasks read one file each, e.g. mmlu's from mmlu/test/{dataset_name}_test.csv."""
    load_config = factory._load_full_config

    def per_leaf(entry, overrides=None):
        if overrides and has_placeholders(_data_files(overrides)):
            files = _filled(_data_files(overrides), load_config(entry, None))
            for path in _paths(files):
                if not Path(path).exists():
                    raise ConfigError(f"[lm_eval].dataset_kwargs.data_files of lm-eval task {entry.name!r}: "
                                      f"{path} does not exist")
            overrides = {**overrides, "dataset_kwargs": {**overrides["dataset_kwargs"], "data_files": files}}
        return load_config(entry, overrides)

    copy = _copy.copy(factory)
    copy._load_full_config = per_leaf  # the instance's build methods look it up on self
    return copy


def load(where: str, spec: str, overrides: dict[str, Any], include_paths: tuple[str, ...] = ()) -> Loaded:
    """Build `spec` (a task, group or tag name, or a YAML file) with lm-eval; one clear line when it cannot."""
    require_lm_eval(where)
    name, paths = spec, include_paths
    if spec.endswith((".yaml", ".yml")):  # a local YAML: index only its folder, not the whole catalogue
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"{where}: lm-eval task file {spec} does not exist")
        name, paths = _yaml_name(path), (*include_paths, str(path.parent))
    managers = [task_manager(paths, False)] if paths else []
    managers.append(task_manager(paths, True))
    for manager in managers:
        if name not in manager.task_index:
            if manager is not managers[-1]:
                continue
            raise ConfigError(f"{where}: {_unknown(name, manager)}")
        try:
            with offline_unless_reachable():
                result = _build(manager, name, overrides)
        except KeyError as err:
            if manager is not managers[-1] and err.args and "is not a registered task" in str(err.args[0]):
                continue  # a member of a local group is one of lm-eval's built-in tasks
            raise ConfigError(f"{where}: {explain_failure(name, manager, overrides, err)}") from None
        except ConfigError as err:  # a per-leaf data file (above), already one line
            raise ConfigError(f"{where}: {err}") from None
        except Exception as err:
            raise ConfigError(f"{where}: {explain_failure(name, manager, overrides, err)}") from None
        return Loaded(tasks=dict(result["tasks"]), groups=dict(result.get("groups", {})))
    raise AssertionError("unreachable: the last manager always returns or raises")


@contextmanager
def offline_unless_reachable():
    """Offline, `datasets` retries each hub dataset for about 25 s before it fails: when the hub does not
    answer, build in offline mode, so a cached dataset still loads and a missing one fails at once."""
    import datasets
    import huggingface_hub.constants as hub

    saved = (datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE)
    if not hub_reachable():
        datasets.config.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub.HF_HUB_OFFLINE = saved


def _yaml_name(path: Path) -> str:
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(path, resolve_func=False)
    return str(config.get("group") or config.get("task"))  # a group YAML lists its members under task


def _unknown(name: str, manager) -> str:
    import difflib

    near = difflib.get_close_matches(name, manager.all_tasks, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"lm-eval has no task, group or tag {name!r}{hint} (`evalkit tasks --lm-eval` lists them)"


def explain_failure(name: str, manager, overrides: dict[str, Any], err: Exception) -> str:
    """One line: the dataset on the hub and how to point the task at local files, or lm-eval's reason."""
    entry = manager.task_index.get(name)
    config = {**(entry.cfg or {} if entry else {}), **overrides}
    dataset = config.get("dataset_path")
    reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
    if dataset and not needs_no_hub(dataset) and _looks_offline(err):
        subset = f" (subset {config['dataset_name']})" if config.get("dataset_name") else ""
        return (f"lm-eval task {name!r} reads the hub dataset {dataset}{subset}, which is not reachable or cached "
                f"here; point it at local files in a task file: kind = \"lm_eval\", task = \"{name}\", and under "
                f"[lm_eval] dataset_path = \"json\" and dataset_kwargs = {{ data_files = {{ test = \"PATH.jsonl\" }} }} "
                f"(lm-eval's field names; doc_to_text/doc_to_choice/doc_to_target can map others) — {reason}")
    return f"lm-eval cannot load task {name!r}: {reason}"


def needs_no_hub(dataset_path: str) -> bool:
    return dataset_path in LOCAL_BUILDERS or os.path.exists(os.path.expandvars(dataset_path))


def _looks_offline(err: Exception) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    return any(word in text for word in ("offline", "connect", "hub", "resolve", "couldn't find", "not found",
                                         "doesn't exist", "timed out", "network", "unreachable"))


def catalogue() -> list[dict[str, Any]]:
    """Every config lm-eval indexes, read without data: its output type, dataset and whether evalkit runs it.

    From lm-eval's index (YAMLs with their includes, `!function` hooks not imported); a task that
    cannot be judged from its config alone (a Python task class) says so."""
    require_lm_eval("evalkit tasks --lm-eval")
    from lm_eval.tasks._index import Kind

    manager = task_manager((), True)
    rows = []
    for name in manager.all_tasks:
        entry = manager.task_index[name]
        if entry.kind in (Kind.GROUP, Kind.TAG):
            size = len(entry.tags) if entry.kind is Kind.TAG else len((entry.cfg or {}).get("task") or [])
            rows.append({"name": name, "type": entry.kind.name.lower(), "output_type": "", "dataset": "",
                         "runs": f"{size} members"})
            continue
        config = {"output_type": DEFAULT_OUTPUT_TYPE, **(entry.cfg or {})}
        output, dataset = config["output_type"], config.get("dataset_path") or ""
        output = "(python class)" if entry.kind is Kind.PY_TASK else output
        rows.append({"name": name, "type": "task", "output_type": output or "", "dataset": dataset,
                     "runs": runnable(config, entry.kind is Kind.PY_TASK)})
    return rows


def runnable(config: dict[str, Any], python_class: bool) -> str:
    """'yes', 'yes, data from the hub', or why not, judged from the config."""
    if python_class:
        return "yes if its class builds text requests (a Python task: judged when it loads)"
    output = config.get("output_type")
    if output not in SUPPORTED_OUTPUT_TYPES:
        return f"no: output_type {output!r}"
    if config.get("doc_to_image") or config.get("doc_to_audio"):
        return "no: needs images or audio"
    dataset = config.get("dataset_path")
    if dataset and not needs_no_hub(str(dataset)):
        return "yes, data from the hub (or local data_files)"
    return "yes"
