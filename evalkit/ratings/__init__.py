"""Ratings from pairwise votes: Bradley–Terry (default) or online Elo, with
95% bootstrap intervals and ranks that only separate models whose intervals
do not overlap, as Chatbot Arena reports them.

    ratings = rate(battles)                  # list[Rating], best first
    ratings = rate(battles, method="elo")
    styled = rate_with_style(battles, texts_a, texts_b)   # Arena's style control: ratings + coefficients

The pieces live in ratings_*.py (battles and counts, the BT fit, online Elo,
win rates, agreement); this module is the public surface.
"""

from __future__ import annotations

import numpy as np

from evalkit.ratings.agreement import (
    Agreement,
    agreement,
    cohen_kappa,
    inter_annotator_agreement,
    judge_human_agreement,
)
from evalkit.ratings.battles import (
    WINNERS,
    Battle,
    BattleArrays,
    BattleError,
    BattlesLike,
    PairCounts,
    encode_battles,
    pair_counts,
)
from evalkit.ratings.bt import (
    INIT_RATING,
    BootstrapIntervals,
    NoFiniteRatingsError,
    bootstrap_bradley_terry,
    fit_bradley_terry,
)
from evalkit.ratings.elo import bootstrap_online_elo, online_elo
from evalkit.ratings.logistic import fit_logistic
from evalkit.ratings.ranked import RANK_NOTE, Rating, interval_ranks, ranked
from evalkit.ratings.style import (
    ARENA_RIDGE,
    STYLE_FEATURES,
    StyleCoefficient,
    StyleRatings,
    rate_with_style,
    style_counts,
)
from evalkit.ratings.winrate import (
    WinRate,
    expected_win_rate,
    pair_win_rate,
    win_rate,
    win_rate_matrix,
)

__all__ = [
    "RANK_NOTE",
    "WINNERS", "Agreement", "Battle", "BattleArrays", "BattleError", "BootstrapIntervals",
    "NoFiniteRatingsError", "PairCounts", "Rating", "WinRate", "agreement",
    "bradley_terry", "cohen_kappa", "compute_online_elo", "encode_battles",
    "expected_win_rate", "inter_annotator_agreement", "interval_ranks", "RANK_NOTE",
    "judge_human_agreement", "pair_counts", "pair_win_rate", "rate",
    "win_rate", "win_rate_matrix", "ARENA_RIDGE", "STYLE_FEATURES", "StyleCoefficient",
    "StyleRatings", "fit_logistic", "rate_with_style", "style_counts",
]  # fmt: skip

METHODS = ("bt", "elo")


def rate(
    battles: BattlesLike,
    method: str = "bt",
    bootstrap_rounds: int = 1000,
    seed: int = 0,
    anchor: str | None = None,
    prior: float = 0.0,
) -> list[Rating]:
    """Rate every model in `battles`, best first.

    method "bt": Bradley–Terry maximum likelihood (order-free; the default).
    method "elo": online Elo in battle order (Arena's original method; its
    bootstrap replays every resample, about 4 s per 100,000 votes).
    anchor: model fixed at 1000 (else the mean rating is 1000; an anchored
    model's own interval is then zero-width). prior: "bt" only, virtual ties
    per pair of models, for votes too few or too lopsided for a finite fit.
    With bootstrap_rounds=0 intervals are NaN and ranks follow the ratings.
    """
    if method not in METHODS:
        raise BattleError(f"unknown method {method!r}; expected one of {METHODS}")
    if bootstrap_rounds < 0:
        raise BattleError(f"bootstrap_rounds must be >= 0, got {bootstrap_rounds}")
    if method == "elo" and prior != 0:
        raise BattleError(f"prior applies to method 'bt' only, got prior={prior} with 'elo'")
    arrays = encode_battles(battles)
    counts = pair_counts(arrays)
    if anchor is not None:
        counts.index(anchor)  # fail early on an unknown anchor, naming the models
    if method == "bt":
        points = fit_bradley_terry(counts, anchor=anchor, prior=prior)
    else:
        points = _anchored(online_elo(arrays), counts, anchor)
    intervals = _bootstrap(method, arrays, counts, bootstrap_rounds, seed, anchor, prior)
    return ranked(counts, points, intervals)


def bradley_terry(
    battles: BattlesLike, anchor: str | None = None, prior: float = 0.0
) -> dict[str, float]:
    """Bradley–Terry ratings without intervals: {model: rating}."""
    counts = pair_counts(battles)
    return dict(zip(counts.models, fit_bradley_terry(counts, anchor, prior).tolist()))


def compute_online_elo(
    battles: BattlesLike,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init_rating: float = 1000.0,
) -> dict[str, float]:
    """Chatbot Arena's online Elo (K=4, SCALE=400, BASE=10, INIT_RATING=1000;
    a tie or both_bad scores 0.5), in battle order: {model: rating}."""
    arrays = encode_battles(battles)
    ratings = online_elo(arrays, k=k, scale=scale, base=base, init_rating=init_rating)
    return dict(zip(arrays.models, ratings.tolist()))


def _bootstrap(method, arrays, counts, rounds, seed, anchor, prior) -> BootstrapIntervals | None:
    if rounds == 0:
        return None
    if method == "bt":
        return bootstrap_bradley_terry(counts, rounds, seed, anchor=anchor, prior=prior)
    return bootstrap_online_elo(arrays, rounds, seed, anchor=anchor)


def _anchored(ratings: np.ndarray, counts: PairCounts, anchor: str | None) -> np.ndarray:
    if anchor is None:
        return ratings
    return ratings + INIT_RATING - ratings[counts.index(anchor)]
