"""Metric rows as the store and the report expect them, shared by the task kinds.

Every row carries n and a 95% interval; `info.interval` says which interval, and
`info.primary` marks the metrics a task shows in the leaderboard's main table.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from evalkit.scoring import stats

MEAN_INTERVAL = "normal: mean ± 1.96 stderr"
CLIPPED_INTERVAL = "normal: mean ± 1.96 stderr, clipped to [0, 1]"
BOOTSTRAP_ROUNDS = 1000


def row(metric: str, estimate: stats.Estimate, interval: str, unscored: int = 0, primary: bool = False,
        higher_is_better: bool = True, **info: Any) -> dict[str, Any]:
    return {"metric": metric, "value": estimate.value, "n": estimate.n,
            "ci_low": _finite(estimate.ci_low), "ci_high": _finite(estimate.ci_high), "unscored": unscored,
            "info": {"higher_is_better": higher_is_better, "interval": interval, "primary": primary, **info}}


WILSON_INTERVAL = "Wilson (0/1 scores)"


def mean_row(metric: str, values: Sequence[float], unscored: int = 0, primary: bool = False,
             **info: Any) -> dict[str, Any]:
    """Mean of per-sample scores with a 95% interval.

    0/1 scores (accuracy, exact match, pass@1) get the Wilson interval: the normal one
    leaves [0, 1] on few items (1 of 10 right gives [-0.10, 0.30]) and collapses to a
    point at 0/10. Their lm-eval stderr (sample std / sqrt(n)) is kept in info.stderr.
    Other scores (ROUGE, pass@k from n > 1, TruthfulQA MC2) get the normal interval, mean ± 1.96
    stderr; for scores that lie in [0, 1] it is clipped to that range where it would leave it (on
    few items an MC2 of 0.33 gave [-0.01, 0.68]), and the row's interval says so.
    """
    estimate = stats.mean_ci(values)
    if set(values) <= {0.0, 1.0}:
        wilson = stats.wilson_ci(int(sum(values)), len(values))
        return row(metric, wilson, WILSON_INTERVAL, unscored, primary, stderr=_finite(estimate.stderr), **info)
    estimate, interval = _within_unit_range(values, estimate)
    return row(metric, estimate, interval, unscored, primary, stderr=_finite(estimate.stderr), **info)


def _within_unit_range(values: Sequence[float], estimate: stats.Estimate) -> tuple[stats.Estimate, str]:
    low, high = estimate.ci_low, estimate.ci_high
    if not values or min(values) < 0.0 or max(values) > 1.0 or math.isnan(low) or (low >= 0.0 and high <= 1.0):
        return estimate, MEAN_INTERVAL
    clipped = stats.Estimate(estimate.value, estimate.n, max(low, 0.0), min(high, 1.0), estimate.stderr)
    return clipped, CLIPPED_INTERVAL


def _finite(value: float) -> float | None:
    # One sample has no spread: store no interval rather than NaN (SQLite reads NaN back as NULL anyway).
    return None if value is None or math.isnan(value) else value
