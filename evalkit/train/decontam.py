"""Decontamination: drop training examples that share a 13-gram with any evaluation item.

13 words, lower-cased, punctuation stripped, as in the GPT-3 paper's contamination
study: long enough that a shared n-gram is copying, not chance. The evaluation items
are the samples of every task in the project's suites (the same rows `evalkit run`
scores), all of their text fields. An item shorter than n words cannot be checked
this way; the count of those is reported rather than guessed around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from evalkit.config import TaskOptions
from evalkit.errors import EvalkitError
from evalkit.tasks.loading import load_task
from evalkit.train.formats import example_text

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def texts_in(value: Any) -> list[str]:
    """Every string inside a row (nested lists and dicts too), skipping evalkit's own `_` fields."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() if not str(k).startswith("_") for t in texts_in(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts_in(v)]
    return []


@dataclass(frozen=True)
class EvalIndex:
    n: int
    grams: frozenset = field(repr=False)
    tasks: tuple[str, ...]
    items: int
    too_short: int  # items with fewer than n words: not checkable by n-gram overlap
    unavailable: tuple[str, ...] = ()  # tasks whose data is not on this machine


def build_index(task_items: dict[str, list[dict[str, Any]]], n: int, unavailable: tuple[str, ...] = ()) -> EvalIndex:
    grams: set[tuple[str, ...]] = set()
    items = too_short = 0
    for rows in task_items.values():
        for row in rows:
            text = "\n".join(texts_in(row))
            items += 1
            found = ngrams(text, n)
            too_short += not found
            grams |= found
    return EvalIndex(n, frozenset(grams), tuple(sorted(task_items)), items, too_short, unavailable)


@dataclass(frozen=True)
class Decontamination:
    kept: list
    dropped: list  # (origin, the first shared n-gram) of each overlapping example
    report: dict[str, Any]


def decontaminate(examples: list, index: EvalIndex, drop: bool = True) -> Decontamination:
    kept, dropped = [], []
    for example in examples:
        shared = ngrams(example_text(example.data), index.n) & index.grams
        if shared:
            dropped.append((example.origin, " ".join(min(shared))))
        if not shared or not drop:
            kept.append(example)
    report = {"ngram": index.n, "checked": len(examples), "overlapping": len(dropped),
              "dropped": len(dropped) if drop else 0, "tasks": list(index.tasks), "eval_items": index.items,
              "eval_items_too_short": index.too_short, "tasks_unavailable": list(index.unavailable),
              "examples": [{"origin": o, "ngram": g} for o, g in dropped[:20]]}
    return Decontamination(kept, dropped, report)


def suite_task_items(config) -> tuple[dict[str, list[dict[str, Any]]], tuple[str, ...]]:
    """The rows of every task in every suite of the config, as `evalkit run` would score them.

    Only data already on this machine is read (files, packages, EVALKIT_DATA_DIR): a build must not
    stall on hub retries for a suite it may never run. Tasks left out are listed in the report.
    """
    import os


    items: dict[str, list[dict[str, Any]]] = {}
    unavailable = []
    search = [config.root / "tasks"]
    previous = os.environ.get("EVALKIT_OFFLINE")
    os.environ["EVALKIT_OFFLINE"] = "1"
    try:
        for suite in config.suites.values():
            for name in suite.tasks:
                try:
                    samples = load_task(name, search).load_samples(suite.options.get(name) or TaskOptions())
                except EvalkitError as err:  # data not on this machine (e.g. no EVALKIT_DATA_DIR): say so
                    unavailable.append(f"{name} ({str(err).splitlines()[0][:160]})")
                    continue
                items.setdefault(name, []).extend(s.row for s in samples)
    finally:
        if previous is None:
            os.environ.pop("EVALKIT_OFFLINE", None)
        else:
            os.environ["EVALKIT_OFFLINE"] = previous
    return items, tuple(sorted(set(unavailable)))
