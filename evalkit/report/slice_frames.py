"""A run's numbers per slice as DataFrames: each model's metric on each slice (n, 95% interval), and
the paired comparisons of frames.comparison_rows restricted to each slice's items, each marked where
its direction reverses the difference over all items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from evalkit.errors import ConfigError
from evalkit.report import slices
from evalkit.report.board import Board
from evalkit.report.frames import comparison_rows, comparisons_frame
from evalkit.store import Store

SLICE_COLUMNS = ["task", "field", "slice", "model", "metric", "value", "ci_low", "ci_high", "n", "higher_is_better",
                 "interval"]


@dataclass(frozen=True)
class TaskSlicing:
    task: str
    slicing: slices.Slicing
    metrics: list[str]


@dataclass(frozen=True)
class SlicePlan:
    parts: list[TaskSlicing]  # item slicings: one per task × field
    frequency: list[str]  # perplexity tasks whose tokens are split by frequency (token_frequency)
    notes: list[str]  # declared slicings the stored records cannot give, and why (an asked one is an error)


def plan(store: Store, board: Board, metrics: dict[str, list[str]], asked: list[str]) -> SlicePlan:
    """The slicings to show: each task's declared `slices`, and the asked fields on the tasks whose rows
    have them. An asked field no shown task has, or one some rows of a task lack, is a one-line error; a
    declared one the records cannot give is a note, so the rest of the page still renders."""
    chosen = SlicePlan([], [], [])
    fields_by_task = {task: [r.get("fields", {}) for m in board.models for r in board.records(store, m, task)]
                      for task in metrics}
    for task, names in metrics.items():
        records = [r for m in board.models for r in board.records(store, m, task)]
        if not records:
            continue
        where = f"run {board.source[(records[0]['model'], task)]}"
        info = board.task_info(task)
        for field in slices.chosen_fields(task, info["kind"], info.get("slices", []), asked, fields_by_task[task]):
            if field == slices.TOKEN_FREQUENCY:
                chosen.frequency.append(task)
                continue
            try:
                slices.check_records(task, field, records, where)
            except ConfigError as err:
                if field in asked:
                    raise
                chosen.notes.append(str(err))
                continue
            chosen.parts.append(TaskSlicing(task, slices.slicing(field, records), names))
    shown = {part.slicing.field for part in chosen.parts} | ({slices.TOKEN_FREQUENCY} if chosen.frequency else set())
    for field in asked:
        if field not in shown:
            raise ConfigError(slices.unknown_field_message(field, fields_by_task))
    return chosen


def slice_results(store: Store, board: Board, chosen: list[TaskSlicing]) -> pd.DataFrame:
    """One row per task × slice field × slice × model × metric, recomputed from that slice's records."""
    run = board.as_run()
    seed = run["provenance"].get("seed", 0)
    rows = []
    for part in chosen:
        kind = board.kind(part.task)
        for name in part.slicing.order:
            for model in board.models:
                records = _in_slice(board.records(store, model, part.task), part.slicing, name)
                for metric in part.metrics if records else []:
                    found = kind.estimate(metric, records, seed=seed)
                    rows.append({"task": part.task, "field": part.slicing.field, "slice": name, "model": model,
                                 "metric": metric, "value": found["value"] if found else float("nan"),
                                 "ci_low": found and found.get("ci_low"), "ci_high": found and found.get("ci_high"),
                                 "n": found["n"] if found else len(records),
                                 "higher_is_better": not kind.lower_is_better(metric),
                                 "interval": found["info"].get("interval", "") if found else "not recomputable"})
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


def slice_comparisons(store: Store, board: Board, chosen: list[TaskSlicing],
                      pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """The paired comparisons on each slice's shared items, with the overall difference beside each and
    `reverses` where the slice's difference has the opposite sign; BH-adjusted over all slice tests."""
    run = board.as_run()
    rows: list[dict[str, Any]] = []
    for part in chosen:
        metrics = {part.task: part.metrics}
        overall = {(r["metric"], r["model_a"], r["model_b"]): r["diff"] for r in comparison_rows(
            store, run, metrics, pairs, records=lambda m, t: board.records(store, m, t), comparable=board.same_items)}
        for name in part.slicing.order:
            def records(model, task, name=name, part=part):
                return _in_slice(board.records(store, model, task), part.slicing, name)

            for row in comparison_rows(store, run, metrics, pairs, records=records, comparable=board.same_items):
                whole = overall.get((row["metric"], row["model_a"], row["model_b"]), float("nan"))
                rows.append({**row, "field": part.slicing.field, "slice": name, "overall_diff": whole,
                             "reverses": bool(row["diff"] * whole < 0)})
    frame = comparisons_frame(rows)
    for column in ("field", "slice", "overall_diff", "reverses"):
        frame[column] = [r[column] for r in rows]
    return frame


def _in_slice(records: list[dict[str, Any]], slicing: slices.Slicing, name: str) -> list[dict[str, Any]]:
    return [r for r in records if slicing.label.get(r["sample_id"]) == name]
