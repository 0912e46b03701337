"""Tasks are data: one TOML file per benchmark in tasks/ (or a user's own folder).

A task file names its data sources (tried in order), how a row becomes a prompt,
how responses are scored, and a version that changes whenever prompt or scoring
does. The `kind` decides the request type and scoring; see evalkit/kinds/.
"""

from __future__ import annotations

import importlib
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.config import TaskOptions
from evalkit.datasources import SOURCE_KINDS, Row, Source, load_rows
from evalkit.errors import ConfigError, DataError
from evalkit.types import stable_hash

KINDS = ("perplexity", "choice", "generate", "code")
TASK_KEYS = {"name", "version", "kind", "description", "sources", "id_field", "subject_field", "fewshot",
             "perplexity", "choice", "generate", "code", "scorers", "citation"}
BUILTIN_TASKS = Path(__file__).resolve().parent.parent / "tasks"


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

    @property
    def handler(self):
        return importlib.import_module(f"evalkit.kinds.{self.kind}")

    def section(self, name: str) -> dict[str, Any]:
        return self.settings.get(name, {})

    def load_samples(self, options: TaskOptions) -> list[Sample]:
        sources = pinned_sources(self.sources, options, f"task {self.name!r}")
        rows, origin = load_rows(sources, self.path.parent, self.name)
        samples = [self._sample(row) for row in rows]
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


def find_task_file(name: str, search: list[Path]) -> Path:
    for folder in search:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for folder in search if folder.is_dir() for p in folder.glob("*.toml")})
    raise ConfigError(f"unknown task {name!r}; looked in {', '.join(str(f) for f in search)}. "
                      f"Known tasks: {', '.join(known) or '(none)'}")


def load_task(name_or_path: str, search: list[Path] | None = None) -> Task:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = find_task_file(name_or_path, (search or []) + [BUILTIN_TASKS])
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    unknown = sorted(set(raw) - TASK_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(TASK_KEYS))}")
    for key, kind in (("name", str), ("version", int), ("kind", str)):
        if not isinstance(raw.get(key), kind):
            raise ConfigError(f"{path}: `{key}` is required and must be {kind.__name__}, got {raw.get(key)!r}")
    if raw["kind"] not in KINDS:
        raise ConfigError(f"{path}: kind = {raw['kind']!r}; choose one of {', '.join(KINDS)}")
    sources = parse_sources(raw.get("sources", []), path)
    if not sources:
        raise ConfigError(f"{path}: needs at least one [[sources]] entry (data_dir, package, file or hub)")
    task = Task(name=raw["name"], version=raw["version"], kind=raw["kind"], path=path,
                description=raw.get("description", ""), sources=sources, settings=raw,
                content_hash=stable_hash(text)[:16])
    task.handler.validate(task)
    return task


def pinned_sources(sources: tuple[Source, ...], options: TaskOptions, what: str) -> list[Source]:
    """The sources a suite allows (`sources = ["package"]` pins the shipped copy, so a suite
    reads the same rows on every machine), in the task file's order."""
    kinds = options.extra.get("sources")
    if kinds is None:
        return list(sources)
    if not isinstance(kinds, list) or not set(kinds) <= set(SOURCE_KINDS):
        raise ConfigError(f"{what}: suite option sources = {kinds!r}; use a list of {', '.join(SOURCE_KINDS)}")
    chosen = [s for s in sources if s.kind in kinds]
    if not chosen:
        raise ConfigError(f"{what} has no source of kind {', '.join(kinds)}; "
                          f"its sources are: {', '.join(s.kind for s in sources)}")
    return chosen


def parse_sources(raw: Any, path: Path, where: str = "sources") -> tuple[Source, ...]:
    """A list of source tables (the task's [[sources]], or [[fewshot.sources]])."""
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: `{where}` must be a list of tables ([[{where}]])")
    return tuple(_source(s, path, i, where) for i, s in enumerate(raw))


def _source(raw: Any, path: Path, index: int, section: str = "sources") -> Source:
    where = f"{path}: {section}[{index}]"
    if not isinstance(raw, dict) or raw.get("kind") not in SOURCE_KINDS:
        raise ConfigError(f"{where}: `kind` must be one of {', '.join(SOURCE_KINDS)}")
    allowed = {"kind", "path", "format", "package", "dataset", "name", "split", "files", "fields"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    if raw["kind"] == "hub" and not raw.get("dataset"):
        raise ConfigError(f"{where}: a hub source needs `dataset`")
    if raw["kind"] != "hub" and not raw.get("path"):
        raise ConfigError(f"{where}: a {raw['kind']} source needs `path`")
    fields = raw.get("fields", {})
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise ConfigError(f"{where}: `fields` must be a table of name = \"Jinja expression\", got {fields!r}")
    return Source(**{**raw, "files": tuple(raw.get("files", ())), "fields": tuple(fields.items())})


def require_template(task: Task, section: str, key: str) -> str:
    value = task.section(section).get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{task.path}: [{section}] needs `{key}` (a Jinja template string)")
    return value
