"""The leaderboard's opening section: for each candidate against its parent, what got better, what got
worse, what showed no difference, and which results are not evidence.

Written from the numbers alone. It reads the paired comparisons the leaderboard renders below it (the same
frame, with its Benjamini–Hochberg adjusted p-values: frames.comparisons_frame), so "better" and "worse"
are exactly the comparisons marked `*` there. A result is not evidence, whatever its p, when a health check
flagged either model on that task, when both models sit at the metric's floor (0) or ceiling (1 on a
0–1 scale), or when the items are fewer than MIN_ITEMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evalkit.report.format import fmt, p_text
from evalkit.report.frames import ALPHA

MIN_ITEMS = 30  # fewer paired items than this: a result is listed as too few to read from


@dataclass(frozen=True)
class Lineage:
    """A candidate's parent, and whether the config says so or it is only the model listed before it."""

    model: str
    parent: str
    configured: bool


def lineages(models: list[str], parents: Mapping[str, str | None]) -> list[Lineage]:
    """Each model's parent among the shown models: the configured one (a recipe's or a model's `parent`),
    else the model listed before it; the first model without a configured parent has none."""
    found = []
    for index, model in enumerate(models):
        parent = parents.get(model)
        if parent in models and parent != model:
            found.append(Lineage(model, parent, True))
        elif index > 0:
            found.append(Lineage(model, models[index - 1], False))
    return found


def _value(results: pd.DataFrame, model: str, task: str, metric: str) -> float | None:
    row = results[(results["model"] == model) & (results["task"] == task) & (results["metric"] == metric)]
    return None if row.empty else float(row["value"].iloc[0])


def _bound(a: float | None, b: float | None, proportion: bool) -> str | None:
    """Where both models sit at the end of the scale, no change could show."""
    if a == 0 and b == 0:
        return "both at 0, the floor"
    if proportion and a == 1 and b == 1:
        return "both at 1, the ceiling"
    return None


def not_evidence_reasons(row: Any, results: pd.DataFrame, flags: Mapping[tuple[str, str], list[str]]) -> list[str]:
    """Why one paired comparison says nothing about the candidate (empty when it is evidence)."""
    reasons = []
    for model in (row.model_a, row.model_b):
        if flags.get((model, row.task)):
            reasons.append(f"{model} health-flagged ({flags[(model, row.task)][0]})")
    a, b = (_value(results, m, row.task, row.metric) for m in (row.model_a, row.model_b))
    proportion = bool(row.higher_is_better) and all(v is not None and 0 <= v <= 1 for v in (a, b))
    bound = _bound(a, b, proportion)
    if bound:
        reasons.append(bound)
    if row.n < MIN_ITEMS:
        reasons.append(f"{row.n} items, fewer than {MIN_ITEMS}")
    return reasons


def _measure(row: Any, results: pd.DataFrame) -> str:
    arrow = "↑" if row.higher_is_better else "↓"
    a, b = (_value(results, m, row.task, row.metric) for m in (row.model_a, row.model_b))
    moved = f"{fmt(b)} → {fmt(a)}, " if a is not None and b is not None else ""
    adjusted = p_text(row.p_adjusted, row.p_resolution, bound=row.p_value <= row.p_resolution)
    return (f"{row.task} · {row.metric} {arrow} ({moved}difference {fmt(row.diff)} [{fmt(row.ci_low)}, "
            f"{fmt(row.ci_high)}], adjusted p {adjusted}, n={row.n})")


def classify(row: Any, results: pd.DataFrame, flags: Mapping[tuple[str, str], list[str]]) -> tuple[str, str]:
    """(better | worse | no difference | not evidence, the line that says so)."""
    reasons = not_evidence_reasons(row, results, flags)
    if reasons:
        return "not evidence", f"{row.task} · {row.metric}: {'; '.join(reasons)}"
    if row.p_adjusted == row.p_adjusted and row.p_adjusted < ALPHA:
        gained = (row.diff > 0) == bool(row.higher_is_better)
        return ("better" if gained else "worse"), _measure(row, results)
    return "no difference", _measure(row, results)


HEADINGS = {"better": "Better", "worse": "Worse", "no difference": "No difference shown",
            "not evidence": "Not evidence"}


def candidate_lines(lineage: Lineage, frame: pd.DataFrame, results: pd.DataFrame,
                    flags: Mapping[tuple[str, str], list[str]]) -> list[str]:
    how = "its parent" if lineage.configured else "the model listed before it; no parent configured"
    lines = [f"**{lineage.model}** against {lineage.parent} ({how}):", ""]
    rows = frame[(frame["model_a"] == lineage.model) & (frame["model_b"] == lineage.parent)]
    if rows.empty:
        return lines + ["- not compared: the two share no scored items in this report", ""]
    grouped: dict[str, list[str]] = {key: [] for key in HEADINGS}
    for row in rows.itertuples(index=False):
        label, text = classify(row, results, flags)
        grouped[label].append(text)
    for label, heading in HEADINGS.items():
        if grouped[label]:
            lines.append(f"- {heading} ({len(grouped[label])}):")
            lines += [f"  - {text}" for text in grouped[label]]
    return lines + [""]


def _count(n_tests: int) -> str:
    return "the 1 comparison" if n_tests == 1 else f"all {n_tests} comparisons"


def intro(n_tests: int) -> str:
    return (f"Each candidate against its parent, from the paired comparisons below: better or worse only where "
            f"the difference has p < {ALPHA} after the Benjamini–Hochberg correction over {_count(n_tests)}; "
            "no difference shown where it has not (which is not proof of no effect); not evidence "
            f"where a health check flagged either model on the task, both sit at the floor or ceiling of the "
            f"scale, or there are fewer than {MIN_ITEMS} items. Judge and vote sections are not part of it.")


def verdict_section(frame: pd.DataFrame, results: pd.DataFrame, models: list[str],
                    parents: Mapping[str, str | None], flags: Mapping[tuple[str, str], list[str]]) -> list[str]:
    """The "Verdict" section's lines; `frame` is comparisons_frame's (with p_adjusted), `results` is
    results_frame's, `flags` maps (model, task) to its health flags."""
    found = lineages(models, parents)
    if not found:
        return []
    lines = ["## Verdict", "", intro(len(frame)), ""]
    for lineage in found:
        lines += candidate_lines(lineage, frame, results, flags)
    return lines[:-1]
