"""Metric rows as the store and the report expect them, shared by the task kinds.

Every row carries n and a 95% interval; `info.interval` says which interval, and
`info.primary` marks the metrics a task shows in the leaderboard's main table.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from evalkit import stats

MEAN_INTERVAL = "normal: mean ± 1.96 stderr"
BOOTSTRAP_ROUNDS = 1000


def row(metric: str, estimate: stats.Estimate, interval: str, unscored: int = 0, primary: bool = False,
        higher_is_better: bool = True, **info: Any) -> dict[str, Any]:
    return {"metric": metric, "value": estimate.value, "n": estimate.n,
            "ci_low": _finite(estimate.ci_low), "ci_high": _finite(estimate.ci_high), "unscored": unscored,
            "info": {"higher_is_better": higher_is_better, "interval": interval, "primary": primary, **info}}


WILSON_INTERVAL = "Wilson (every score the same, where the normal interval has zero width)"


def mean_row(metric: str, values: Sequence[float], unscored: int = 0, primary: bool = False,
             **info: Any) -> dict[str, Any]:
    """Mean of per-sample scores with the normal interval (lm-eval's stderr).

    0/10 correct is not certainty that the rate is 0: when 0/1 scores are all equal
    the normal interval collapses to a point, so the Wilson interval is given instead.
    """
    estimate = stats.mean_ci(values)
    if len(values) > 1 and estimate.value in (0.0, 1.0) and set(values) <= {0.0, 1.0}:
        wilson = stats.wilson_ci(int(sum(values)), len(values))
        return row(metric, wilson, WILSON_INTERVAL, unscored, primary, **info)
    return row(metric, estimate, MEAN_INTERVAL, unscored, primary, **info)


def _finite(value: float) -> float | None:
    # One sample has no spread: store no interval rather than NaN (SQLite reads NaN back as NULL anyway).
    return None if value is None or math.isnan(value) else value
