"""A fit's ratings as the rows every table shows: rating, bootstrap interval, Arena's rank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.ratings.battles import PairCounts
from evalkit.ratings.bt import BootstrapIntervals


@dataclass(frozen=True)
class Rating:
    """One model's rating. ci_low/ci_high: 2.5th/97.5th bootstrap percentiles,
    median: the bootstrap median (all NaN without bootstrap rounds). rank:
    1 + the number of models whose ci_low is above this model's ci_high."""

    model: str
    rating: float
    ci_low: float
    ci_high: float
    median: float
    rank: int
    n_battles: int


RANK_NOTE = ("Rank is 1 + the number of models whose 95% interval lies wholly above this model's: models whose 95% "
             "intervals overlap share a rank, however far apart their ratings, since the data cannot order them.")


def interval_ranks(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Arena's rank: 1 + the number of models whose lower bound is above my
    upper bound, so models with overlapping intervals can share a rank."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return 1 + (low[None, :] > high[:, None]).sum(axis=1)


def ranked(counts: PairCounts, points: np.ndarray, intervals: BootstrapIntervals | None) -> list[Rating]:
    """Ratings aligned with counts.models → Rating rows, best first."""
    m = len(counts.models)
    if intervals is None:
        nan = np.full(m, np.nan)
        low, median, high = nan, nan, nan
        ranks = interval_ranks(points, points)
    else:
        low, median, high = intervals.low, intervals.median, intervals.high
        ranks = interval_ranks(low, high)
    n_battles = counts.battles_per_model()
    order = sorted(range(m), key=lambda i: (-points[i], counts.models[i]))
    return [
        Rating(counts.models[i], float(points[i]), float(low[i]), float(high[i]),
               float(median[i]), int(ranks[i]), int(n_battles[i]))
        for i in order
    ]  # fmt: skip
