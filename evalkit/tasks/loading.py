"""Tasks are data: one TOML file per benchmark in tasks/ (or a user's own folder).

A task file names its data sources (tried in order), how a row becomes a prompt,
how responses are scored, and a version that changes whenever prompt or scoring
does. The `kind` decides the request type and scoring; see evalkit/kinds/.
"""

from __future__ import annotations

import difflib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.config import TaskOptions, builtin_dir, read_toml
from evalkit.data.sources import Row, Source, load_rows, parse_sources, pinned_sources
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import KINDS, TaskKind
from evalkit.tasks import formats
from evalkit.types import stable_hash

COMMON_KEYS = {"name", "version", "kind", "description", "sources", "id_field", "subject_field", "fewshot",
               "citation", "slices", "formats"}  # what every task file may hold; each kind adds its own


def task_keys() -> set[str]:
    """The keys a task file may hold: the common ones and every registered kind's own."""
    return COMMON_KEYS.union(*(kind.task_keys for kind in KINDS.values()))


LM_EVAL_PREFIX = "lm_eval:"  # --tasks lm_eval:arc_easy: lm-eval's own task of that name, no task file
BUILTIN_TASKS = builtin_dir("tasks")


@dataclass(frozen=True)
class Sample:
    id: str
    row: dict[str, Any]
    origin: str


@dataclass(frozen=True)
class Task:
    name: str
    version: int
    kind: str
    path: Path
    description: str
    sources: tuple[Source, ...]
    settings: dict[str, Any] = field(hash=False)
    content_hash: str = ""
    format: str = ""  # a prompt format this variant runs in (tasks/formats.py); "" as the file defines it

    @property
    def handler(self) -> TaskKind:
        return KINDS[self.kind]

    def section(self, name: str) -> dict[str, Any]:
        return self.settings.get(name, {})

    def load_samples(self, options: TaskOptions) -> list[Sample]:
        if self.handler.own_data:
            return [Sample(*entry) for entry in self.handler.load_samples(self, options)]
        sources = pinned_sources(self.sources, options, f"task {self.name!r}")
        rows, origin = load_rows(sources, self.path.parent, self.name)
        samples = _unique_ids([self._sample(row) for row in rows], self.name)
        subject_field = self.settings.get("subject_field")
        if options.subjects:
            if not subject_field:
                raise ConfigError(f"task {self.name!r} has no subject_field, so `subjects` cannot select from it")
            known = {str(s.row.get(subject_field)) for s in samples}
            missing = sorted(set(options.subjects) - known)
            if missing:
                raise ConfigError(f"task {self.name!r}: unknown subjects {missing}; known: {', '.join(sorted(known))}")
            samples = [s for s in samples if str(s.row.get(subject_field)) in options.subjects]
        if options.limit is not None and options.limit < len(samples):
            if options.sample_seed is None:
                samples = samples[: options.limit]
            else:
                picked = sorted(random.Random(options.sample_seed).sample(range(len(samples)), options.limit))
                samples = [samples[i] for i in picked]
        for sample in samples:
            self.handler.check_sample(self, sample)
        return samples

    def _sample(self, row: Row) -> Sample:
        id_field = self.settings.get("id_field")
        if id_field:
            if id_field not in row.data:
                raise DataError(f"{row.origin}: missing field {id_field!r} (the task's id_field)")
            sample_id = str(row.data[id_field])
        else:
            sample_id = row.origin.rsplit("/", 1)[-1]
        return Sample(id=sample_id, row=row.data, origin=row.origin)


def _unique_ids(samples: list[Sample], task: str) -> list[Sample]:
    """Per-sample records are keyed by id, so two rows with one id would silently leave one item."""
    seen: dict[str, str] = {}
    for sample in samples:
        if sample.id in seen:
            raise DataError(f"{sample.origin}: id {sample.id!r} is already used by {seen[sample.id]}; task {task!r} "
                            f"needs a unique id per row (fix the data or the task's id_field)")
        seen[sample.id] = sample.origin
    return samples


def find_task_file(name: str, search: list[Path]) -> Path:
    for folder in search:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    known = known_tasks(search)
    near = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}? " if near else ""
    raise ConfigError(f"unknown task {name!r}; {hint}looked in {', '.join(str(f) for f in search)}. "
                      f"Known tasks: {', '.join(known) or '(none)'} (`evalkit tasks` describes them)")


def known_tasks(search: list[Path]) -> list[str]:
    return sorted({p.stem for folder in search if folder.is_dir() for p in folder.glob("*.toml")})


def lm_eval_task(entry: str) -> Task:
    """`lm_eval:NAME`: an in-memory task of kind lm_eval (NAME: an lm-eval task, group, tag or YAML path)."""
    spec = entry[len(LM_EVAL_PREFIX):]
    if not spec:
        raise ConfigError(f"{entry!r}: name an lm-eval task after the prefix, e.g. lm_eval:arc_easy")
    settings = {"name": entry, "version": 1, "kind": "lm_eval", "task": spec}
    task = Task(name=entry, version=1, kind="lm_eval", path=Path(entry), description=f"lm-eval's {spec}",
                sources=(), settings=settings, content_hash=stable_hash(settings)[:16])
    task.handler.validate(task)
    return task


def _check_layout(raw: dict[str, Any], path: Path) -> None:
    """The parts every kind shares: the kind itself, its own settings table, the plain fields; a table
    of another kind is a mistake (it would be ignored), and so is a version below 1."""
    kind = raw["kind"]
    if kind not in KINDS:
        near = difflib.get_close_matches(kind, list(KINDS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(f"{path}: kind = {kind!r}; {hint}choose one of {', '.join(KINDS)}")
    if raw["version"] < 1:
        raise ConfigError(f"{path}: version = {raw['version']}; use 1 or more, and raise it when prompt or scoring changes")
    if not raw["name"].strip():
        raise ConfigError(f"{path}: name is empty; give the task a name")
    if not isinstance(raw.get(kind, {}), dict):
        raise ConfigError(f"{path}: [{kind}] must be a table of the {kind} kind's settings")
    others = sorted(k for k in KINDS if k != kind and k in raw)
    if others:
        raise ConfigError(f"{path}: [{others[0]}] is set but kind = {kind!r}, so it would be ignored; "
                          f"remove it or set kind = {others[0]!r}")
    for key in ("description", "id_field", "subject_field", "citation"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{path}: `{key}` must be a string, got {raw[key]!r}")
    fields = raw.get("slices", [])  # the report slices by these row fields (evalkit/report/slices.py)
    if not isinstance(fields, list) or not all(isinstance(f, str) and f.strip() for f in fields):
        raise ConfigError(f"{path}: `slices` must be a list of row field names, e.g. slices = [\"subject\", "
                          f"\"prompt_length\"], got {fields!r}")


def load_task(name_or_path: str, search: list[Path] | None = None) -> Task:
    if name_or_path.startswith(LM_EVAL_PREFIX):
        return lm_eval_task(name_or_path)
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = find_task_file(name_or_path, (search or []) + [BUILTIN_TASKS])
    raw, text = read_toml(path, task_keys(), {"name": str, "version": int, "kind": str},
                          missing_hint="give a task name or an existing .toml path (`evalkit tasks` lists them)")
    _check_layout(raw, path)
    sources = parse_sources(raw.get("sources", []), path)
    if not sources and not KINDS[raw["kind"]].own_data:
        raise ConfigError(f"{path}: needs at least one [[sources]] entry (data_dir, package, file or hub)")
    task = Task(name=raw["name"], version=raw["version"], kind=raw["kind"], path=path,
                description=raw.get("description", ""), sources=sources, settings=raw,
                content_hash=stable_hash(text)[:16])
    task.handler.validate(task)
    formats.validate(task)
    return task
