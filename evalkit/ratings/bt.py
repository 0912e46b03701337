"""Bradley–Terry ratings by maximum likelihood, and their bootstrap.

The model is Chatbot Arena's: P(i beats j) = 1 / (1 + BASE ** ((r_j - r_i) / SCALE))
with BASE 10 and SCALE 400, and a tie counts as half a win for each side (Arena
duplicates every battle and turns a tie into one win each). The fit works on
per-pair counts with Newton's method, vectorised over bootstrap rounds, so its
cost does not grow with the number of votes.

The likelihood only fixes rating differences; we centre the natural-scale
strengths at 0, which puts the mean rating at INIT_RATING (or shift so an
`anchor` model sits at INIT_RATING).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from evalkit.ratings.battles import BattleError, PairCounts

SCALE, BASE, INIT_RATING = 400.0, 10.0, 1000.0
POINTS_PER_NAT = SCALE / math.log(BASE)

# A bootstrap resample in which some group of models never loses (or never
# wins) against the rest has no finite maximum-likelihood fit. Such rounds get
# this many virtual ties per pair of models: their ratings stay finite but far
# apart, so they widen the interval as they should, instead of failing.
DEGENERATE_ROUND_PRIOR = 0.1

_MAX_NEWTON_STEPS = 100
_STEP_TOLERANCE = 1e-10  # natural units; 2e-8 rating points
_MAX_HALVINGS = 40
# Rounds are fitted in chunks so memory stays bounded with many models.
_CHUNK_CELLS = 2_000_000


class NoFiniteRatingsError(BattleError):
    """The votes separate the models so that the likelihood has no maximum."""


@dataclass(frozen=True)
class BootstrapIntervals:
    """Percentile bootstrap of ratings: arrays aligned with `models`."""

    models: tuple[str, ...]
    low: np.ndarray  # 2.5th percentile
    median: np.ndarray
    high: np.ndarray  # 97.5th percentile
    rounds: int
    degenerate_rounds: int = 0


def score_matrix(counts: PairCounts) -> np.ndarray:
    """S[i, j] = wins of i over j plus half of their ties."""
    return counts.wins + 0.5 * counts.ties


def fit_bradley_terry(
    counts: PairCounts, anchor: str | None = None, prior: float = 0.0
) -> np.ndarray:
    """Maximum-likelihood ratings aligned with `counts.models`.

    prior: virtual ties added between every pair of models (0 = plain MLE, as
    Arena). Raises NoFiniteRatingsError when prior is 0 and no finite
    maximum exists, naming the groups of models that cause it.
    """
    _check_prior(prior)
    scores = _with_prior(score_matrix(counts)[None], prior)
    if prior == 0 and not has_finite_fit(scores)[0]:
        raise NoFiniteRatingsError(_separation_message(counts.models, scores[0]))
    theta = newton_fit(scores)[0]
    return _to_ratings(theta[None], counts, anchor)[0]


def bootstrap_bradley_terry(
    counts: PairCounts,
    rounds: int,
    seed: int,
    anchor: str | None = None,
    prior: float = 0.0,
) -> BootstrapIntervals:
    """Resample the battles with replacement `rounds` times and refit.

    Resampling N battles with replacement gives multinomial(N, cell shares)
    counts over the (pair, outcome) cells, and the fit reads only those
    counts, so we draw the counts directly: the same distribution as
    resampling battles, without touching each vote.
    """
    _check_prior(prior)
    cells, weights = _cells(counts)
    total = int(cells.sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(total, cells / total, size=rounds)
    m = len(counts.models)
    chunk = max(1, _CHUNK_CELLS // (m * m))
    ratings, degenerate = [], 0
    for start in range(0, rounds, chunk):
        scores = (draws[start : start + chunk] @ weights).reshape(-1, m, m)
        finite = has_finite_fit(scores) | (prior > 0)
        degenerate += int((~finite).sum())
        round_prior = np.where(finite, prior, max(prior, DEGENERATE_ROUND_PRIOR))
        theta = newton_fit(_with_prior(scores, round_prior))
        ratings.append(_to_ratings(theta, counts, anchor))
    if degenerate:
        warnings.warn(
            f"{degenerate} of {rounds} bootstrap resamples had a model (or group) "
            "that never lost or never won; they were fitted with "
            f"{DEGENERATE_ROUND_PRIOR} virtual ties per pair. The intervals are "
            "wide for a reason: collect more votes, or fit with a prior of virtual ties "
            "(prior=1.0 in evalkit.ratings.rate; `evalkit ratings --prior 1`).",
            RuntimeWarning,
            stacklevel=2,
        )
    low, median, high = np.percentile(np.concatenate(ratings), [2.5, 50, 97.5], axis=0)
    return BootstrapIntervals(counts.models, low, median, high, rounds, degenerate)


def newton_fit(scores: np.ndarray) -> np.ndarray:
    """Natural-scale strengths (R, M) maximising the BT log-likelihood of each
    score matrix in `scores` (R, M, M), centred to sum 0.

    The Hessian is minus the Laplacian of the pair weights n p (1 - p), whose
    null space is the all-ones vector; adding ones/M makes it invertible and
    keeps each step (hence the strengths) summing to 0.
    """
    r, m, _ = scores.shape
    games = scores + scores.transpose(0, 2, 1)
    theta = np.zeros((r, m))
    loglik = _log_likelihood(scores, theta)
    gauge = np.full((m, m), 1.0 / m)
    for _ in range(_MAX_NEWTON_STEPS):
        p = _sigmoid(theta[:, :, None] - theta[:, None, :])
        gradient = scores.sum(axis=2) - (games * p).sum(axis=2)
        weight = games * p * (1.0 - p)
        laplacian = -weight
        laplacian[:, np.arange(m), np.arange(m)] += weight.sum(axis=2)
        step = np.linalg.solve(laplacian + gauge, gradient[..., None])[..., 0]
        theta, loglik = _damped_update(scores, theta, loglik, step)
        if np.abs(step).max() < _STEP_TOLERANCE:
            break
    return theta


def _damped_update(scores, theta, loglik, step):
    """Halve each round's step until its likelihood does not drop: Newton
    alone can overshoot far from the optimum (the likelihood is concave, so
    a short enough step always helps)."""
    scale = np.ones(len(theta))
    for _ in range(_MAX_HALVINGS):
        candidate = theta + scale[:, None] * step
        new_loglik = _log_likelihood(scores, candidate)
        worse = new_loglik < loglik - 1e-12 * np.abs(loglik)
        if not worse.any():
            break
        scale[worse] /= 2
    return candidate, new_loglik


def _log_likelihood(scores: np.ndarray, theta: np.ndarray) -> np.ndarray:
    log_p = -np.logaddexp(0.0, theta[:, None, :] - theta[:, :, None])  # log sigmoid
    return (scores * log_p).sum(axis=(1, 2))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The tanh form never overflows (numpy only; scipy would slow imports).
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def has_finite_fit(scores: np.ndarray) -> np.ndarray:
    """Per round: is the "i scored against j" graph strongly connected?
    That is exactly when the BT likelihood has a finite maximum (Zermelo,
    Ford 1957). Reachability by repeated squaring, batched over rounds."""
    m = scores.shape[-1]
    reach = (scores > 0) | np.eye(m, dtype=bool)
    for _ in range(max(1, math.ceil(math.log2(m)))):
        hops = reach.astype(np.float32)
        reach = (hops @ hops) > 0
    return reach.all(axis=(1, 2))


def _with_prior(scores: np.ndarray, prior) -> np.ndarray:
    """Add `prior` virtual ties (half a win each way) between every pair."""
    m = scores.shape[-1]
    off_diagonal = 1.0 - np.eye(m)
    return scores + np.reshape(prior, (-1, 1, 1)) * 0.5 * off_diagonal


def _to_ratings(theta: np.ndarray, counts: PairCounts, anchor: str | None) -> np.ndarray:
    ratings = INIT_RATING + POINTS_PER_NAT * theta
    if anchor is not None:
        ratings += INIT_RATING - ratings[:, counts.index(anchor)][:, None]
    return ratings


def _cells(counts: PairCounts) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty (pair, outcome) cells and each cell's contribution to the
    flattened score matrix: a win adds 1 to S[w, l], a tie 0.5 both ways."""
    m = len(counts.models)
    sizes, rows = [], []
    for i in range(m):
        for j in range(i + 1, m):
            for size, contribution in (
                (counts.wins[i, j], {(i, j): 1.0}),
                (counts.wins[j, i], {(j, i): 1.0}),
                (counts.ties[i, j], {(i, j): 0.5, (j, i): 0.5}),
            ):
                if size > 0:
                    row = np.zeros(m * m)
                    for (w, l), value in contribution.items():
                        row[w * m + l] = value
                    sizes.append(size)
                    rows.append(row)
    return np.array(sizes, dtype=np.float64), np.array(rows)


def _check_prior(prior: float) -> None:
    if not (prior >= 0 and math.isfinite(prior)):
        raise BattleError(f"prior must be a finite number >= 0, got {prior!r}")


def _separation_message(models: tuple[str, ...], scores: np.ndarray) -> str:
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(scores > 0, directed=True, connection="strong")
    groups = [sorted(models[i] for i in np.flatnonzero(labels == g)) for g in np.unique(labels)]
    return (
        "no finite Bradley–Terry ratings: some models never lost (or never won) "
        f"against the others, splitting them into groups {groups}. Collect more "
        "votes between these groups, or fit with prior=1.0 (one virtual tie per pair; "
        "`evalkit ratings --prior 1`)."
    )
