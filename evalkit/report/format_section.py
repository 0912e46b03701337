"""The leaderboard's "Format sensitivity" section: each model × task × prompt format on the format's
headline metric, the spread across formats, and the paired comparisons per format with the pairs whose
sign depends on the format marked. Shown only for runs with `--formats`."""

from __future__ import annotations

import pandas as pd

from evalkit.kinds.formats import FORMATS
from evalkit.report.board import Board
from evalkit.report.format import cell, fmt, p_text
from evalkit.report.format_frames import TaskFormats, format_comparisons, format_results, plan
from evalkit.store import Store

ALPHA = 0.05


def format_section(store: Store, board: Board, pairs: list[tuple[str, str]]) -> list[str]:
    parts = plan(board)
    if not parts:
        return []
    shown = [p for p in parts if p.rows]
    results = format_results(board, shown)
    compared = format_comparisons(store, board, shown, pairs) if pairs else pd.DataFrame()
    lines = ["## Format sensitivity", "", intro(len(compared)), ""]
    for part in shown:
        lines += [f"### {part.task}", ""] + metric_table(results, part, board.models) + [""]
        lines += [f"- not run: {name} ({why})" for name, why in part.skipped.items()]
        if part.skipped:
            lines.append("")
        mine = compared[compared["task"] == part.task] if not compared.empty else compared
        if not mine.empty:
            lines += comparison_table(mine) + [""] + sign_notes(mine)
    skipped_only = [p for p in parts if not p.rows]
    if skipped_only:
        lines += ["Not run in other formats: " + "; ".join(_why_none(board, p) for p in skipped_only) + ".", ""]
    return lines[:-1] if lines[-1] == "" else lines


def _why_none(board: Board, part: TaskFormats) -> str:
    """A task no asked format applies to: its kind where that is the reason, else each format's reason."""
    kind = board.task_info(part.task)["kind"]
    if all(why.endswith(f" is a {kind} task") for why in part.skipped.values()):
        return f"{part.task} (a {kind} task)"
    return f"{part.task} (" + "; ".join(f"{name}: {why}" for name, why in part.skipped.items()) + ")"


def intro(n_tests: int) -> str:
    text = ("The same items in each prompt format of the run (`evalkit run --formats`): each model's value on the "
            "format's headline metric, [95% interval], and the items n. The task's own format is the row its main "
            "results come from. Spread: the highest minus the lowest value of a model across the formats.")
    if not n_tests:
        return text
    return text + (f" Paired comparisons per format as above; `*` marks p < {ALPHA} after Benjamini–Hochberg over "
                   f"the {n_tests} format comparison{'s' if n_tests != 1 else ''}; `⚠ sign depends on format` "
                   "marks a pair that is ahead in one format and behind in another.")


def metric_table(results: pd.DataFrame, part: TaskFormats, models: list[str]) -> list[str]:
    mine = results[results["task"] == part.task]
    by_key = {(r.format, r.model): r for r in mine.itertuples(index=False)}
    lines = ["| format | metric | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for name, result_task in part.rows.items():
        shown = [by_key.get((name, model)) for model in models]
        metric = next((r.metric for r in shown if r is not None), "")
        arrow = next(("↑" if r.higher_is_better else "↓" for r in shown if r is not None), "")
        label = f"{name} ({_row_role(part, result_task)})" if _row_role(part, result_task) else name
        cells = ["not run" if r is None else _cell(r) for r in shown]
        lines.append(f"| {label} | {metric} {arrow} | " + " | ".join(cells) + " |")
    spreads = [mine[mine["model"] == model]["spread"] for model in models]
    lines.append("| spread (max − min) | | " + " | ".join(fmt(s.iloc[0]) if len(s) and s.iloc[0] == s.iloc[0]
                                                          else "–" for s in spreads) + " |")
    return lines


def _row_role(part: TaskFormats, result_task: str) -> str:
    """The task as its file defines it, or the main row where a suite scores that in another format."""
    if "@" not in result_task:
        return "as defined"
    return "main row, the suite's format" if result_task == part.task else ""


def chosen_format_notes(board: Board) -> list[str]:
    """One line under the main table per task its suite scores in another prompt format than its file's."""
    lines = []
    for task, info in board.tasks().items():
        if info.get("format_chosen_by") and any(r["task"] == task for r in board.results):
            known = FORMATS.get(info["format"])
            what = f": {known.summary}" if known else ""
            lines.append(f"- `{task}` is scored in the prompt format {info['format']}, which its suite chooses "
                         f"(`format = \"{info['format']}\"` in the task's suite options){what}.")
    return lines


def _cell(row) -> str:
    return cell({"value": row.value, "ci_low": row.ci_low, "ci_high": row.ci_high}) + f" (n={row.n})"


def comparison_table(frame: pd.DataFrame) -> list[str]:
    lines = ["| format | metric | comparison | difference [95% CI] | p (BH-adjusted) | test | n |",
             "|---|---|---|---|---|---|---|"]
    for row in frame.itertuples(index=False):
        star = " *" if row.p_adjusted < ALPHA else ""
        adjusted = p_text(row.p_adjusted, row.p_resolution, bound=row.p_value <= row.p_resolution)
        flag = " ⚠ sign depends on format" if row.sign_depends else ""
        lines.append(f"| {row.format} | {row.metric} | {row.model_a} − {row.model_b} | {fmt(row.diff)} "
                     f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}]{flag} | {adjusted}{star} | {row.test} | {row.n} |")
    return lines


def sign_notes(frame: pd.DataFrame) -> list[str]:
    """One line per pair whose sign depends on the format: where it is ahead, where behind."""
    lines = []
    for (a, b), group in frame[frame["sign_depends"]].groupby(["model_a", "model_b"], sort=False):
        ahead = [r.format for r in group.itertuples() if r.diff == r.diff and (r.diff > 0) == r.higher_is_better
                 and r.diff != 0]
        behind = [r.format for r in group.itertuples() if r.diff == r.diff and (r.diff > 0) != r.higher_is_better
                  and r.diff != 0]
        lines.append(f"- ⚠ {a} vs {b}: {a} is ahead in {', '.join(ahead)} and behind in {', '.join(behind)}")
    return lines + ([""] if lines else [])
