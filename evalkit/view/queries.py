"""Paged reads of a run's per-sample records, filtered in SQL: a page never holds more than one page of
items, whatever the size of the run.

A filter is a WHERE clause over the samples table: wrong (the task's primary per-item score below 1:
a 0/1 metric's wrong answers), empty (a blank response), truncated (a generation stopped at its token
limit), a slice (a row field's value) and a search over prompt, response and target. The diff reads
the two models' records of the same items in one join.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from evalkit.store import Store

PAGE_SIZE = 25
SPLITS = ("all", "disagree", "a_right", "b_right")  # the diff's items: one right and the other wrong, or all


@dataclass(frozen=True)
class Filter:
    wrong: bool = False
    empty: bool = False
    truncated: bool = False
    field: str = ""
    value: str = ""
    search: str = ""
    split: str = "all"  # the diff only

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filter:
        split = query.get("split", "all")
        return cls(wrong=query.get("wrong") == "1", empty=query.get("empty") == "1",
                   truncated=query.get("truncated") == "1", field=query.get("field", "").strip(),
                   value=query.get("value", "").strip(), search=query.get("q", "").strip(),
                   split=split if split in SPLITS else "all")

    def params(self) -> dict[str, str]:
        """The filter as query parameters (only those that differ from no filter)."""
        found = {"wrong": "1" if self.wrong else "", "empty": "1" if self.empty else "",
                 "truncated": "1" if self.truncated else "", "field": self.field if self.value else "",
                 "value": self.value if self.field else "", "q": self.search,
                 "split": self.split if self.split != "all" else ""}
        return {k: v for k, v in found.items() if v}

    def query(self, **extra: Any) -> str:
        return urlencode({**self.params(), **{k: v for k, v in extra.items() if v not in (None, "")}})

    @property
    def active(self) -> bool:
        return bool(self.params())

    def without(self, **changes: Any) -> Filter:
        return replace(self, **changes)


def score_path(metric: str) -> str:
    """The JSON path of a per-item score: quoted, since metric names hold '@' and '/' (pass@1, acc/subject)."""
    return '$."' + metric.replace('"', "") + '"'


def like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _truncated(alias: str) -> str:
    # generate kinds keep one finish_reason, code kinds one per completion (finish_reasons)
    return (f"(json_extract({alias}.scores, '$.finish_reason') = 'length' OR EXISTS (SELECT 1 FROM "
            f"json_each({alias}.scores, '$.finish_reasons') WHERE value = 'length'))")


def _wrong(alias: str, metric: str | None) -> str:
    return f"(json_extract({alias}.scores, ?) < 1)" if metric else "0"


def conditions(filter_: Filter, metric: str | None, sides: tuple[str, ...]) -> tuple[list[str], list[Any]]:
    """WHERE parts and their arguments; `sides` are the table aliases (one, or both sides of a diff)."""
    where: list[str] = []
    args: list[Any] = []
    if filter_.wrong:
        where.append(" OR ".join(_wrong(s, metric) for s in sides))
        args += [score_path(metric)] * len(sides) if metric else []
    if filter_.empty:
        where.append(" OR ".join(f"trim({s}.response) = ''" for s in sides))
    if filter_.truncated:
        where.append(" OR ".join(_truncated(s) for s in sides))
    if filter_.field and filter_.value:
        where.append(f"CAST(json_extract({sides[0]}.fields, ?) AS TEXT) = ?")
        args += [score_path(filter_.field), filter_.value]
    if filter_.search:
        columns = [f"{sides[0]}.prompt", f"{sides[0]}.target"] + [f"{s}.response" for s in sides]
        where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        args += [like(filter_.search)] * len(columns)
    if len(sides) == 2 and metric and filter_.split != "all":
        right = {"a": "json_extract(a.scores, ?) >= 1", "b": "json_extract(b.scores, ?) >= 1"}
        split = {"disagree": f"({right['a']}) != ({right['b']})",
                 "a_right": f"({right['a']}) AND NOT ({right['b']})",
                 "b_right": f"({right['b']}) AND NOT ({right['a']})"}[filter_.split]
        where.append(split)
        args += [score_path(metric)] * 2
    return where, args


def _record(row: tuple, keys: tuple[str, ...]) -> dict[str, Any]:
    record = dict(zip(keys, row))
    for key in ("scores", "fields"):
        if key in record:
            record[key] = json.loads(record[key])
    return record


RECORD_KEYS = ("sample_id", "prompt", "response", "target", "scores", "fields")


@dataclass
class Samples:
    """One model's records of one task in one run."""

    store: Store
    run_id: int
    task: str
    model: str
    metric: str | None  # the primary per-item score "wrong" reads; None where there is none (perplexity)

    def _where(self, filter_: Filter) -> tuple[str, list[Any]]:
        where, args = conditions(filter_, self.metric, ("s",))
        return " AND ".join(["s.run_id=? AND s.model=? AND s.task=?"] + where), [self.run_id, self.model,
                                                                                   self.task] + args

    def count(self, filter_: Filter = Filter()) -> int:
        where, args = self._where(filter_)
        return self.store.db.execute(f"SELECT COUNT(*) FROM samples s WHERE {where}", args).fetchone()[0]

    def page(self, filter_: Filter, number: int, size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        where, args = self._where(filter_)
        rows = self.store.db.execute(f"SELECT {', '.join('s.' + k for k in RECORD_KEYS)} FROM samples s WHERE {where} "
                                     "ORDER BY s.rowid LIMIT ? OFFSET ?", args + [size, (number - 1) * size])
        return [_record(row, RECORD_KEYS) for row in rows]

    def scored(self, filter_: Filter) -> list[dict[str, Any]]:
        """Every filtered record without its prompt: what a recomputed estimate reads."""
        where, args = self._where(filter_)
        keys = ("sample_id", "response", "target", "scores")
        rows = self.store.db.execute(f"SELECT {', '.join('s.' + k for k in keys)} FROM samples s WHERE {where} "
                                     "ORDER BY s.rowid", args)
        return [{**_record(row, keys), "prompt": ""} for row in rows]

    def fields(self, shown: int = 50) -> dict[str, list[str]]:
        """Each row field of the records and its first `shown` values, for the slice filter."""
        scope = "FROM samples s, json_each(s.fields) j WHERE s.run_id=? AND s.model=? AND s.task=?"
        args = (self.run_id, self.model, self.task)
        keys = [row[0] for row in self.store.db.execute(f"SELECT DISTINCT j.key {scope} ORDER BY 1", args)]
        return {key: [row[0] for row in self.store.db.execute(
                    f"SELECT DISTINCT CAST(j.value AS TEXT) {scope} AND j.key=? ORDER BY 1 LIMIT ?", (*args, key, shown))]
                for key in keys}


@dataclass
class Pairs:
    """Two models' records of the same items (same run, task and sample id)."""

    store: Store
    run_id: int
    task: str
    model_a: str
    model_b: str
    metric: str | None

    def _where(self, filter_: Filter) -> tuple[str, list[Any]]:
        where, args = conditions(filter_, self.metric, ("a", "b"))
        base = "a.run_id=? AND a.task=? AND a.model=? AND b.model=?"
        return " AND ".join([base] + where), [self.run_id, self.task, self.model_a, self.model_b] + args

    _JOIN = "samples a JOIN samples b ON b.run_id=a.run_id AND b.task=a.task AND b.sample_id=a.sample_id"

    def count(self, filter_: Filter = Filter()) -> int:
        where, args = self._where(filter_)
        return self.store.db.execute(f"SELECT COUNT(*) FROM {self._JOIN} WHERE {where}", args).fetchone()[0]

    def page(self, filter_: Filter, number: int, size: int = PAGE_SIZE) -> list[tuple[dict, dict]]:
        where, args = self._where(filter_)
        columns = ", ".join([f"a.{k}" for k in RECORD_KEYS] + [f"b.{k}" for k in RECORD_KEYS])
        rows = self.store.db.execute(f"SELECT {columns} FROM {self._JOIN} WHERE {where} ORDER BY a.rowid "
                                     "LIMIT ? OFFSET ?", args + [size, (number - 1) * size])
        n = len(RECORD_KEYS)
        return [(_record(row[:n], RECORD_KEYS), _record(row[n:], RECORD_KEYS)) for row in rows]

    def scored(self, filter_: Filter) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Both sides' filtered records (no prompt), item for item: what the paired test reads."""
        where, args = self._where(filter_)
        keys = ("sample_id", "response", "target", "scores")
        columns = ", ".join([f"a.{k}" for k in keys] + [f"b.{k}" for k in keys])
        rows = self.store.db.execute(f"SELECT {columns} FROM {self._JOIN} WHERE {where} ORDER BY a.rowid", args)
        side_a, side_b = [], []
        for row in rows:
            side_a.append({**_record(row[:4], keys), "prompt": ""})
            side_b.append({**_record(row[4:], keys), "prompt": ""})
        return side_a, side_b


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))
