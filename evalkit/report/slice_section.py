"""The leaderboard's "Slices" section: each model's metric per slice, then the paired comparisons per
slice with the slices whose difference points the other way than over all items marked. Shown only
when a task declares `slices` or a report is asked `--slice-by`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evalkit.report import slices
from evalkit.report.board import Board
from evalkit.report.format import cell, fmt, p_text
from evalkit.report.frequency_section import frequency_frame, frequency_lines
from evalkit.report.slice_frames import TaskSlicing, plan, slice_comparisons, slice_results
from evalkit.store import Store

ALPHA = 0.05


def slices_section(store: Store, board: Board, metrics: dict[str, list[str]], pairs: list[tuple[str, str]],
                   asked: list[str], reports_dir: Path) -> list[str]:
    chosen = plan(store, board, metrics, asked)
    if not chosen.parts and not chosen.frequency and not chosen.notes:
        return []
    results = slice_results(store, board, chosen.parts)
    compared = slice_comparisons(store, board, chosen.parts, pairs) if pairs and chosen.parts else pd.DataFrame()
    lines = ["## Slices", "", intro(len(compared)), ""]
    if chosen.notes:
        lines += [f"- ⚠ {note}" for note in chosen.notes] + [""]
    frequencies = frequency_frame(store, board, chosen.frequency)
    for task in chosen.frequency:
        lines += frequency_lines(frequencies, task, board.models, reports_dir) + [""]
    for part in chosen.parts:
        lines += [f"### {part.task} by {part.slicing.field}", ""]
        lines += metric_table(results, part, board.models) + [""]
        if not compared.empty:
            mine = compared[(compared["task"] == part.task) & (compared["field"] == part.slicing.field)]
            lines += comparison_table(mine) + [""] if not mine.empty else []
    return lines[:-1]


def intro(n_tests: int) -> str:
    lengths = ", ".join(f"`{name}`" for name in slices.DERIVED)
    text = (f"Each model's metric on the items of each slice, value [95% interval] with the slice's n; a number "
            f"with more than {slices.BUCKETS} values is cut into {slices.BUCKETS} equal-count buckets, labelled by "
            f"the values they hold ({lengths}: words and punctuation marks of the stored prompt or reference "
            "answer).")
    if not n_tests:
        return text
    return text + (f" Paired comparisons per slice as above, on the slice's shared items; `*` marks p < {ALPHA} "
                   f"after Benjamini–Hochberg over the {n_tests} slice comparison{'s' if n_tests != 1 else ''}; "
                   "`⚠ reverses` marks a slice whose difference has the opposite sign of the difference over all "
                   "items.")


def metric_table(results: pd.DataFrame, part: TaskSlicing, models: list[str]) -> list[str]:
    mine = results[(results["task"] == part.task) & (results["field"] == part.slicing.field)]
    by_key = {(r.slice, r.model, r.metric): r for r in mine.itertuples(index=False)}
    arrows = {m: "↑" if r.higher_is_better else "↓" for (_, _, m), r in by_key.items()}
    header = ["slice", "n"] + [f"{model} · {metric} {arrows.get(metric, '')}".rstrip() for metric in part.metrics
                               for model in models]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in part.slicing.order:
        shown = [by_key.get((name, model, metric)) for metric in part.metrics for model in models]
        ns = sorted({r.n for r in shown if r is not None})
        cells = ["not run" if r is None else _cell(r, ns) for r in shown]
        lines.append(f"| {name} | {'/'.join(str(n) for n in ns)} | " + " | ".join(cells) + " |")
    return lines


def _cell(row, ns: list[int]) -> str:
    if row.value != row.value:
        return f"n/a ({row.interval})"
    text = cell({"value": row.value, "ci_low": row.ci_low, "ci_high": row.ci_high})
    return text + (f" (n={row.n})" if len(ns) > 1 else "")


def comparison_table(frame: pd.DataFrame) -> list[str]:
    lines = ["| slice | metric | comparison | difference [95% CI] | p (BH-adjusted) | test | n | over all items |",
             "|---|---|---|---|---|---|---|---|"]
    for row in frame.itertuples(index=False):
        star = " *" if row.p_adjusted < ALPHA else ""
        adjusted = p_text(row.p_adjusted, row.p_resolution, bound=row.p_value <= row.p_resolution)
        flag = " ⚠ reverses" if row.reverses else ""
        lines.append(f"| {row.slice} | {row.metric} | {row.model_a} − {row.model_b} | {fmt(row.diff)} "
                     f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}] | {adjusted}{star} | {row.test} | {row.n} | "
                     f"{fmt(row.overall_diff)}{flag} |")
    return lines
