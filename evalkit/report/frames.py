"""A run's numbers as pandas DataFrames: one row per model × task × metric, per item, per paired
comparison. The Python API returns these; the leaderboard's tables are rendered from them."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from evalkit.kinds import KINDS
from evalkit.kinds.metric_rows import BOOTSTRAP_ROUNDS
from evalkit.store import Store

Records = Callable[[str, str], list[dict[str, Any]]]

ALPHA = 0.05  # a paired difference counts when its p after the multiplicity correction is below this
RESULT_COLUMNS = ["model", "task", "metric", "value", "ci_low", "ci_high", "n", "unscored", "higher_is_better",
                  "primary", "interval", "run"]
COMPARISON_COLUMNS = ["task", "metric", "model_a", "model_b", "diff", "ci_low", "ci_high", "p_value", "test", "n",
                      "higher_is_better"]  # then p_resolution and p_adjusted (Benjamini–Hochberg), see comparisons_frame


def results_frame(run: dict[str, Any], results: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"model": r["model"], "task": r["task"], "metric": r["metric"], "value": r["value"],
             "ci_low": r.get("ci_low"), "ci_high": r.get("ci_high"), "n": r["n"], "unscored": r.get("unscored", 0),
             "higher_is_better": bool(r["info"].get("higher_is_better", True)),
             "primary": bool(r["info"].get("primary", False)), "interval": r["info"].get("interval", ""),
             "run": run["id"]} for r in results]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def samples_frame(store: Store, run_id: int, model: str | None = None, task: str | None = None) -> pd.DataFrame:
    """One row per item and model: prompt, response, target, and each score as a `score.NAME` column."""
    records = store.samples(run_id, model, task)
    frame = pd.DataFrame([{k: v for k, v in r.items() if k != "scores"} for r in records],
                         columns=["model", "task", "sample_id", "prompt", "response", "target"])
    scores = pd.json_normalize([r["scores"] for r in records]).add_prefix("score.") if records else pd.DataFrame()
    return pd.concat([frame, scores], axis=1)


def comparison_rows(store: Store, run: dict[str, Any], metrics: dict[str, list[str]],
                    pairs: list[tuple[str, str]], records: Records | None = None,
                    comparable: Callable[[str, str, str], bool] | None = None) -> list[dict[str, Any]]:
    """The paired difference a − b of every metric on the items both models were scored on.

    records(model, task) gives a model's per-sample records (default: this run's); comparable(task, a, b)
    says whether two models' records are of the same items (a leaderboard across runs asks)."""
    records = records or (lambda model, task: store.samples(run["id"], model, task))
    by_id = functools.cache(lambda model, task: {r["sample_id"]: r for r in records(model, task)})  # read once
    rows = []
    for task, names in metrics.items():
        kind = KINDS[run["provenance"]["tasks"][task]["kind"]]
        for metric in names:
            for a, b in pairs:
                if comparable is not None and not comparable(task, a, b):
                    continue
                recs_a, recs_b = by_id(a, task), by_id(b, task)
                shared = sorted(set(recs_a) & set(recs_b))
                if not shared:
                    continue
                result = kind.compare(metric, [recs_a[i] for i in shared], [recs_b[i] for i in shared],
                                      seed=run["provenance"].get("seed", 0))
                rows.append({"task": task, "metric": metric, "model_a": a, "model_b": b, "diff": result.diff,
                             "ci_low": result.ci_low, "ci_high": result.ci_high, "p_value": result.p_value,
                             "test": result.method, "n": result.n, "higher_is_better": not kind.lower_is_better(metric),
                             "p_resolution": p_resolution(result.method)})
    return rows


def p_resolution(method: str) -> float:
    """The smallest p-value a test can give: a bootstrap of R rounds cannot tell p below 1/R (evalkit's
    kinds bootstrap with metric_rows.BOOTSTRAP_ROUNDS); exact tests have no floor."""
    return 1.0 / BOOTSTRAP_ROUNDS if "bootstrap" in method else 0.0


def adjusted_p_values(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false discovery rate) over one family of tests; NaN stays NaN."""
    finite = [i for i, p in enumerate(p_values) if p == p]
    adjusted = [math.nan] * len(p_values)
    if finite:
        from scipy.stats import false_discovery_control  # 0.6 s to import: only a report with comparisons pays

        for i, value in zip(finite, false_discovery_control([p_values[i] for i in finite], method="bh")):
            adjusted[i] = float(value)
    return adjusted


def comparisons_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a frame, with Benjamini–Hochberg adjusted p-values over all of them (`p_adjusted`)."""
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    frame["p_resolution"] = [r.get("p_resolution", 0.0) for r in rows]
    frame["p_adjusted"] = adjusted_p_values(list(frame["p_value"]))
    return frame
