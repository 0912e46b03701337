"""Few-shot examples and prompt assembly, as lm-evaluation-harness builds its contexts.

    prompt = description
           + (example text + target_delimiter + example answer + delimiter) * k
           + question text

The task file's [fewshot] table says how many examples (a suite's num_fewshot
overrides it), where they come from ([[fewshot.sources]], tried in order like
the task's own sources; none means the task's own rows), and how they are picked:

- sampler = "first_n": the first k rows of the pool, in file order (lm-eval's
  MMLU: the first k dev questions of the same subject).
- sampler = "random": a seeded sample of k rows per question, drawn with
  random.Random(f"{run seed}:{sample id}"), so every model sees the same
  examples for the same question, whatever the subset or order. lm-eval draws
  from one sequential random.Random(1234) over its document order instead, so
  its exemplars match ours only with that sampler.

The question itself is never one of its own examples (lm-eval removes it too
when few-shot and test split are the same). match_field keeps only examples
whose field equals the question's (MMLU: the same subject).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evalkit.config import TaskOptions, check_keys
from evalkit.data.sources import (
    Source,
    data_dir,
    load_rows,
    parse_sources,
    pinned_sources,
)
from evalkit.errors import ConfigError, DataError

SAMPLERS = ("first_n", "random")
FEWSHOT_KEYS = {"num_fewshot", "max_fewshot", "sampler", "match_field", "delimiter", "sources"}
MAX_FEWSHOT = 25


@dataclass(frozen=True)
class FewshotSettings:
    num_fewshot: int = 0
    sampler: str = "random"
    match_field: str | None = None
    delimiter: str = "\n\n"  # lm-eval's fewshot_delimiter
    sources: tuple[Source, ...] = ()  # empty: the task's own rows
    max_fewshot: int = MAX_FEWSHOT  # 0 for a zero-shot-only task (TruthfulQA: its examples are in the prompt)


def settings(task) -> FewshotSettings:
    """The task's [fewshot] table, validated; raises ConfigError naming the key."""
    raw = task.settings.get("fewshot", {})
    where = f"{task.path}: [fewshot]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_keys(raw, FEWSHOT_KEYS, str(task.path), prefix="fewshot.")
    most = raw.get("max_fewshot", MAX_FEWSHOT)
    if isinstance(most, bool) or not isinstance(most, int) or not 0 <= most <= MAX_FEWSHOT:
        raise ConfigError(f"{where}.max_fewshot = {most!r}; use a whole number 0..{MAX_FEWSHOT}")
    shots = raw.get("num_fewshot", 0)
    if isinstance(shots, bool) or not isinstance(shots, int) or not 0 <= shots <= most:
        raise ConfigError(f"{where}.num_fewshot = {shots!r}; use a whole number 0..{most}")
    sampler = raw.get("sampler", "random")
    if sampler not in SAMPLERS:
        raise ConfigError(f"{where}.sampler = {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    for key in ("match_field", "delimiter"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}.{key} must be a string, got {raw[key]!r}")
    sources = parse_sources(raw.get("sources", []), task.path, "fewshot.sources")
    return FewshotSettings(shots, sampler, raw.get("match_field"), raw.get("delimiter", "\n\n"), sources, most)


def num_shots(task, options: dict[str, Any]) -> int:
    """k for this run: the suite's num_fewshot when it sets one, else the task file's."""
    chosen, config = options.get("num_fewshot"), settings(task)
    if chosen is not None and int(chosen) > config.max_fewshot:
        what = "is zero-shot only" if config.max_fewshot == 0 else f"takes at most {config.max_fewshot} examples"
        raise ConfigError(f"task {task.name!r} {what} ([fewshot].max_fewshot in {task.path}); "
                          f"remove num_fewshot = {chosen} from the suite or lower it")
    return config.num_fewshot if chosen is None else int(chosen)


@dataclass(frozen=True)
class Pool:
    rows: list[dict[str, Any]]
    origin: str
    groups: dict[Any, list[dict[str, Any]]]  # rows by match_field value (all rows under None)


_POOLS: dict[tuple, Pool] = {}


def pool(task, options: dict[str, Any]) -> Pool:
    """Rows examples are drawn from, and where they came from (loaded once per task file)."""
    pinned = options.get("sources")
    key = (str(task.path), task.content_hash, tuple(pinned or ()), str(data_dir()))
    if key not in _POOLS:
        config = settings(task)
        sources = pinned_sources(config.sources or task.sources,
                                 TaskOptions(extra={"sources": pinned} if pinned else {}),
                                 f"task {task.name!r} [fewshot]")
        rows, origin = load_rows(sources, task.path.parent, f"{task.name} (few-shot examples)")
        data = [row.data for row in rows]
        groups: dict[Any, list[dict[str, Any]]] = {}
        if config.match_field:
            for row in data:
                groups.setdefault(row.get(config.match_field), []).append(row)
        _POOLS[key] = Pool(data, origin, groups)
    return _POOLS[key]


def examples(task, sample, options: dict[str, Any]) -> list[dict[str, Any]]:
    """The k example rows for one question."""
    k = num_shots(task, options)
    if k == 0:
        return []
    config = settings(task)
    found = pool(task, options)
    candidates = found.groups.get(sample.row.get(config.match_field), []) if config.match_field else found.rows
    if config.sampler == "first_n":
        drawn = candidates[: k + 1]
    else:  # one extra draw, in case the question itself is drawn (as lm-eval does)
        rng = random.Random(f"{options.get('seed', 0)}:{sample.id}")
        drawn = [candidates[i] for i in rng.sample(range(len(candidates)), min(k + 1, len(candidates)))]
    chosen = [row for row in drawn if row != sample.row][:k]
    if len(chosen) < k:
        which = f" with {config.match_field} = {sample.row.get(config.match_field)!r}" if config.match_field else ""
        raise DataError(f"task {task.name!r}: {k}-shot needs {k} examples{which} but the few-shot pool "
                        f"{found.origin} has {len(chosen)}; lower num_fewshot in the suite or add a "
                        "[[fewshot.sources]] entry")
    return chosen


def build_prompt(task, sample, options: dict[str, Any], description: str, text_of: Callable[[dict], str],
                 answer_of: Callable[[dict], str], target_delimiter: str) -> str:
    """description + k answered examples + the question, joined as lm-eval joins them."""
    delimiter = settings(task).delimiter
    parts = [description]
    for row in examples(task, sample, options):
        try:
            parts.append(text_of(row) + target_delimiter + answer_of(row) + delimiter)
        except Exception as err:
            raise DataError(f"task {task.name!r}: a few-shot example cannot be rendered ({type(err).__name__}: "
                            f"{err}); its fields: {', '.join(sorted(row))}") from None
    parts.append(text_of(sample.row))
    return "".join(parts)


def describe(task, options: dict[str, Any]) -> dict[str, Any]:
    """How examples were chosen, for the run's metric rows."""
    k = num_shots(task, options)
    config = settings(task)
    info: dict[str, Any] = {"num_fewshot": k}
    if k:
        info.update(sampler=config.sampler, origin=pool(task, options).origin,
                    seed=options.get("seed", 0) if config.sampler == "random" else None)
    return info
