"""Which slice each item of a task falls in: a field of its row (MMLU's subject, a tag) or a derived
length, numbers cut into equal-count buckets.

Every per-sample record keeps its row's short scalar fields (`row_fields`, stored by the run), so a
report can slice a finished run by any of them. The derived lengths are counted on the stored prompt
and target in words and punctuation marks, the same count whichever model's tokenizer ran, so both
sides of a paired comparison see the same slices.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.errors import ConfigError
from evalkit.kinds import KINDS

MAX_FIELD_CHARS = 100  # longer strings (questions, documents) are text, not a slice; the prompt keeps them
BUCKETS = 3  # a numeric field with more distinct values than this is cut into terciles: short, middle, long
_WORDS = re.compile(r"\w+|[^\w\s]")
# not a slice of items but of every perplexity document's tokens, by their frequency in the task's data
# (evalkit/kinds/token_frequency.py); its table and plot: evalkit/report/frequency_section.py
TOKEN_FREQUENCY = "token_frequency"
DERIVED: dict[str, Callable[[dict[str, Any]], int]] = {
    "prompt_length": lambda record: len(_WORDS.findall(record["prompt"])),
    "answer_length": lambda record: len(_WORDS.findall(record["target"])),
}


def row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The fields of a data row a record keeps for slicing: numbers, booleans and short strings."""
    return {key: value for key, value in row.items() if not key.startswith("_") and
            (isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= MAX_FIELD_CHARS))}


def parse_fields(text: str | None) -> list[str]:
    """`--slice-by subject,prompt_length` → ["subject", "prompt_length"]."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def missing_field_message(task: str, field: str, missing: int, total: int, example: str,
                          fields: list[dict[str, Any]]) -> str:
    return (f"task {task!r}: slice field {field!r} is missing from {missing} of {total} rows (e.g. {example}); "
            f"fields every row has: {', '.join(common_fields(fields))}; slice by one of those, or give every row "
            f"of the task's data a {field!r}")


def common_fields(fields: list[dict[str, Any]]) -> list[str]:
    """The fields every row has (stored or derived), the ones a slice can use."""
    shared = set.intersection(*(set(f) for f in fields)) if fields else set()
    return sorted(shared) + list(DERIVED)  # and token_frequency on perplexity tasks


def check_rows(task: str, field: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Before any model runs: every row (its origin, its fields) of the task has the slice field."""
    rows = list(rows)
    if field in DERIVED or field == TOKEN_FREQUENCY:
        return
    lacking = [origin for origin, fields in rows if field not in fields]
    if lacking:
        raise ConfigError(missing_field_message(task, field, len(lacking), len(rows), lacking[0],
                                                [fields for _, fields in rows]))


def chosen_fields(task: str, kind: str, declared: list[str], asked: list[str],
                  fields: list[dict[str, Any]]) -> list[str]:
    """A task's slice fields: its declared ones, then the asked ones its rows have. A `--slice-by` field
    applies to the tasks whose rows have it; a task where only some rows have it is an error (check_*);
    token_frequency applies to perplexity tasks only."""
    token_level = kind in KINDS and KINDS[kind].token_level
    if TOKEN_FREQUENCY in declared and not token_level:
        kinds = " or ".join(f'"{name}"' for name, k in KINDS.items() if k.token_level)
        raise ConfigError(f"task {task!r}: slices = [{TOKEN_FREQUENCY!r}] needs kind = {kinds} (it splits "
                          f"documents' tokens by frequency), not {kind!r}; remove it from the task's slices")
    applies = [f for f in asked if f in DERIVED or any(f in row for row in fields)
               or (f == TOKEN_FREQUENCY and token_level)]
    return list(dict.fromkeys(declared + applies))


def unknown_field_message(field: str, fields_by_task: dict[str, list[dict[str, Any]]]) -> str:
    listing = "; ".join(f"{task}: {', '.join(common_fields(fields))}" for task, fields in fields_by_task.items())
    return (f"--slice-by {field}: no task has a field {field!r}; fields by task: {listing}"
            f" (and {TOKEN_FREQUENCY} on perplexity tasks)")


def check_records(task: str, field: str, records: list[dict[str, Any]], where: str) -> None:
    """The same check on stored records (every model's): each item named once."""
    if field in DERIVED or field == TOKEN_FREQUENCY:
        return
    records = list({r["sample_id"]: r for r in records}.values())
    if records and not any(r.get("fields") for r in records):
        raise ConfigError(f"task {task!r} ({where}): its records were stored without row fields (by an evalkit "
                          f"before schema 4), so they cannot be sliced by {field!r}; rerun the same `evalkit run` "
                          f"(its cached responses cost nothing) or slice by {' or '.join(DERIVED)}")
    lacking = [r["sample_id"] for r in records if field not in r.get("fields", {})]
    if lacking:
        raise ConfigError(missing_field_message(task, field, len(lacking), len(records), f"item {lacking[0]!r}",
                                                [r.get("fields", {}) for r in records]))


def value_of(record: dict[str, Any], field: str) -> Any:
    return DERIVED[field](record) if field in DERIVED else record["fields"][field]


@dataclass(frozen=True)
class Slicing:
    """The slice of every item: `label[sample_id]`, and the slices in the order a table shows them."""

    field: str
    label: dict[str, str]
    order: list[str]


def slicing(field: str, records: list[dict[str, Any]]) -> Slicing:
    """Labels for one task's records (all models'): a category per value, or for a number with more
    than BUCKETS values, equal-count buckets labelled by the range of values they hold."""
    values = {r["sample_id"]: value_of(r, field) for r in records}
    numbers = [v for v in values.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values) and len(set(numbers)) > BUCKETS:
        return _buckets(field, values)
    label = {item: str(value) for item, value in values.items()}
    return Slicing(field, label, sorted(set(label.values())))


def _buckets(field: str, values: dict[str, float]) -> Slicing:
    edges = np.quantile(list(values.values()), [i / BUCKETS for i in range(1, BUCKETS)])
    bucket = {item: int(np.searchsorted(edges, value, side="left")) for item, value in values.items()}
    ranges: dict[int, list[float]] = {}
    for item, index in bucket.items():
        ranges.setdefault(index, []).append(values[item])
    names = {index: _range_text(min(held), max(held)) for index, held in ranges.items()}
    return Slicing(field, {item: names[index] for item, index in bucket.items()}, [names[i] for i in sorted(names)])


def _range_text(low: float, high: float) -> str:
    return f"{low:g}" if low == high else f"{low:g}–{high:g}"
