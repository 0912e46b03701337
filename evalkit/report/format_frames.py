"""A run's numbers per prompt format as DataFrames (`--formats`): each model × task × format on its
headline metric (n, 95% interval), the spread across formats, and the paired comparisons of
frames.comparison_rows per format, each pair marked where the sign of its difference depends on the
format. The formats a task ran in are in its provenance (evalkit/run/formats.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from evalkit.report.board import Board
from evalkit.report.frames import comparison_rows, comparisons_frame
from evalkit.store import Store

FORMAT_COLUMNS = ["task", "format", "result_task", "model", "metric", "value", "ci_low", "ci_high", "n",
                  "higher_is_better", "spread"]


@dataclass(frozen=True)
class TaskFormats:
    task: str
    rows: dict[str, str]  # format → the task name its results are stored under (the plain name: as defined)
    skipped: dict[str, str] = field(default_factory=dict)  # format → why the task could not take it


def plan(board: Board) -> list[TaskFormats]:
    """The tasks shown that ran in formats, in run order."""
    chosen = []
    for task, info in board.tasks().items():
        formats = info.get("formats")
        if formats and any(r["task"] == task for r in board.results):
            chosen.append(TaskFormats(task, dict(formats.get("rows", {})), dict(formats.get("skipped", {}))))
    return chosen


def headline(board: Board, result_task: str) -> str | None:
    """The metric a format's row shows: the first metric its results mark primary (the format's own)."""
    results = [r for r in board.results if r["task"] == result_task]
    if not results:
        return None
    return board.kind(result_task).primary_metrics(results)[0]


def format_results(board: Board, parts: list[TaskFormats]) -> pd.DataFrame:
    by_key = {(r["model"], r["task"], r["metric"]): r for r in board.results}
    rows = []
    for part in parts:
        for name, result_task in part.rows.items():
            metric = headline(board, result_task)
            for model in board.models:
                r = by_key.get((model, result_task, metric))
                if r is None:
                    continue
                rows.append({"task": part.task, "format": name, "result_task": result_task, "model": model,
                             "metric": metric, "value": r["value"], "ci_low": r.get("ci_low"),
                             "ci_high": r.get("ci_high"), "n": r["n"],
                             "higher_is_better": bool(r["info"].get("higher_is_better", True))})
    frame = pd.DataFrame(rows, columns=FORMAT_COLUMNS)
    if not frame.empty:  # the highest minus the lowest headline value of the model across the task's formats
        spread = frame.groupby(["task", "model"])["value"].transform(lambda v: v.max() - v.min())
        frame["spread"] = spread.where(frame.groupby(["task", "model"])["value"].transform("count") > 1)
    return frame


def format_comparisons(store: Store, board: Board, parts: list[TaskFormats],
                       pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Paired comparisons of each pair in each format (Benjamini–Hochberg over all of them), with
    `sign_depends`: the pair's difference on this task is positive in some format and negative in another."""
    run = board.as_run()
    rows = []
    for part in parts:
        for name, result_task in part.rows.items():
            metric = headline(board, result_task)
            if metric is None:
                continue
            found = comparison_rows(store, run, {result_task: [metric]}, pairs,
                                    records=lambda model, task: board.records(store, model, task),
                                    comparable=board.same_items)
            rows += [{**row, "task": part.task, "format": name} for row in found]
    frame = comparisons_frame(rows)
    frame.insert(1, "format", [r["format"] for r in rows])
    frame["sign_depends"] = _sign_depends(frame)
    return frame


def _sign_depends(frame: pd.DataFrame) -> list[bool]:
    signs: dict[tuple[str, str, str], set[int]] = {}
    for row in frame.itertuples(index=False):
        if row.diff == row.diff and row.diff != 0:
            better = (row.diff > 0) == row.higher_is_better  # model_a better in this format
            signs.setdefault((row.task, row.model_a, row.model_b), set()).add(1 if better else -1)
    return [len(signs.get((row.task, row.model_a, row.model_b), ())) > 1 for row in frame.itertuples(index=False)]
