"""Win rates between pairs of models, with Wilson score intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.ratings.battles import BattleError, PairCounts
from evalkit.scoring.stats import wilson_ci

TIE_MODES = ("half", "exclude")


@dataclass(frozen=True)
class WinRate:
    """Win rate of a model against an opponent; n is the number of battles
    the rate is over (ties included when ties="half", left out when "exclude")."""

    rate: float
    low: float
    high: float
    wins: int
    ties: int
    losses: int
    n: int


def win_rate(wins: int, ties: int, losses: int, ties_mode: str = "half") -> WinRate:
    """Win rate with a 95% Wilson interval.

    ties_mode "half": (wins + ties / 2) / (wins + ties + losses), the same
    accounting as the Bradley–Terry fit. "exclude": wins / (wins + losses),
    the fraction of decisive battles won.
    """
    _check_ties_mode(ties_mode)
    if ties_mode == "half":
        successes, n = wins + 0.5 * ties, wins + ties + losses
    else:
        successes, n = float(wins), wins + losses
    if n == 0:
        raise BattleError(
            f"no battles to compute a win rate from (wins={wins}, ties={ties}, "
            f"losses={losses}, ties_mode={ties_mode!r})"
        )
    # Imported here: evalkit.scoring.stats pulls in scipy.stats, which importing
    # the ratings should not cost.

    # Wilson, not the normal interval: it stays inside [0, 1] and does not
    # collapse at 0% or 100%, which matters for small vote counts. The
    # formula takes the fractional successes that half-ties give.
    interval = wilson_ci(successes, n)
    return WinRate(successes / n, interval.ci_low, interval.ci_high, wins, ties, losses, n)


def pair_win_rate(counts: PairCounts, model: str, opponent: str, ties_mode: str = "half") -> WinRate:
    """Win rate of `model` against `opponent` from aggregated counts."""
    return win_rate(*counts.between(model, opponent), ties_mode=ties_mode)


def win_rate_matrix(counts: PairCounts, ties_mode: str = "half") -> np.ndarray:
    """M[i, j]: observed win rate of models[i] against models[j].

    ties_mode "half" (default) counts a tie as half a win for each side, so
    M[i, j] + M[j, i] == 1; "exclude" uses decisive battles only. Cells with
    no battles, and the diagonal, are NaN.
    """
    _check_ties_mode(ties_mode)
    wins, ties = counts.wins.astype(float), counts.ties.astype(float)
    if ties_mode == "half":
        won, played = wins + 0.5 * ties, wins + wins.T + ties
    else:
        won, played = wins, wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(played > 0, won / played, np.nan)
    np.fill_diagonal(matrix, np.nan)
    return matrix


def expected_win_rate(ratings: np.ndarray, scale: float = 400.0, base: float = 10.0) -> np.ndarray:
    """M[i, j]: win probability of i over j that the ratings predict."""
    ratings = np.asarray(ratings, dtype=float)
    matrix = 1.0 / (1.0 + base ** ((ratings[None, :] - ratings[:, None]) / scale))
    np.fill_diagonal(matrix, np.nan)
    return matrix


def _check_ties_mode(ties_mode: str) -> None:
    if ties_mode not in TIE_MODES:
        raise BattleError(f"unknown ties_mode {ties_mode!r}; expected one of {TIE_MODES}")
