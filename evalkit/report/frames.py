"""A run's numbers as pandas DataFrames: one row per model × task × metric, per item, per paired
comparison. The Python API returns these; the leaderboard's tables are rendered from them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from evalkit.kinds import KINDS
from evalkit.store import Store

RESULT_COLUMNS = ["model", "task", "metric", "value", "ci_low", "ci_high", "n", "unscored", "higher_is_better",
                  "primary", "interval", "run"]
COMPARISON_COLUMNS = ["task", "metric", "model_a", "model_b", "diff", "ci_low", "ci_high", "p_value", "test", "n",
                      "higher_is_better"]


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
                    pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The paired difference a − b of every metric on the items both models were scored on."""
    rows = []
    for task, names in metrics.items():
        kind = KINDS[run["provenance"]["tasks"][task]["kind"]]
        for metric in names:
            for a, b in pairs:
                recs_a = {r["sample_id"]: r for r in store.samples(run["id"], a, task)}
                recs_b = {r["sample_id"]: r for r in store.samples(run["id"], b, task)}
                shared = sorted(set(recs_a) & set(recs_b))
                if not shared:
                    continue
                result = kind.compare(metric, [recs_a[i] for i in shared], [recs_b[i] for i in shared],
                                      seed=run["provenance"].get("seed", 0))
                rows.append({"task": task, "metric": metric, "model_a": a, "model_b": b, "diff": result.diff,
                             "ci_low": result.ci_low, "ci_high": result.ci_high, "p_value": result.p_value,
                             "test": result.method, "n": result.n, "higher_is_better": not kind.lower_is_better(metric)})
    return rows


def comparisons_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
