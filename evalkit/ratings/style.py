"""Style-controlled Bradley–Terry: ratings fitted jointly with the effect of answer style.

Chatbot Arena's style control ("Does style matter? Disentangling style and substance in
Chatbot Arena", LMSYS, August 2024; FastChat `rating_systems.py`): each battle gets one
feature per style element, the normalised difference (a - b) / (a + b + 1) of the two
answers' length and of their counts of markdown headers, list items and bold spans,
each scaled to unit spread over the battles; then

    P(a beats b) = sigmoid(theta_a - theta_b + sum_k beta_k * feature_k)

is fitted by logistic regression (a tie is half a win each way) with Arena's L2 penalty
(lambda/2 * ||w||^2, lambda = 0.5 per battle, on the ratings in units of 400 points
and on the coefficients). The ratings are what the models would score with answers
of equal style; beta_k is how many log-odds of winning one unit of spread in feature k
buys, whoever gives the answer.

One deliberate difference: Arena standardises each feature by its mean and standard
deviation. A feature is a difference, so its sign follows which model is "a"; Arena's
sides are random and its mean near 0, but evalkit's judge and votes may put the same
model first in every battle, and subtracting the mean would then fold the average style
gap back into the ratings. We scale by the root mean square instead (the standard
deviation over the battles taken in both orders, whose mean is exactly 0), so swapping
a battle's sides never changes a rating; where Arena's mean is 0 the two agree.

The bootstrap resamples battles with replacement and refits (features keep their
full-data scale, as Arena's do), vectorised over rounds with Newton's method.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalkit.ratings.battles import B_WINS, TIE, BattleArrays, BattleError, BattlesLike, encode_battles, pair_counts
from evalkit.ratings.bt import INIT_RATING, POINTS_PER_NAT, BootstrapIntervals
from evalkit.ratings.logistic import fit_logistic
from evalkit.ratings.ranked import Rating, ranked

STYLE_FEATURES = ("length", "headers", "lists", "bold")
# Arena's penalty: sklearn LogisticRegression(C=1) on every battle entered twice, i.e. lambda = 0.5
# per battle on the parameters with ratings r in units of 400 points (logit = ln 10 * (r_a - r_b)).
ARENA_RIDGE = 0.5

# Arena's markdown counters (FastChat add_markdown_info.py), applied with fenced code removed.
_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_LIST_ITEM = (re.compile(r"^\s*\d+\.\s", re.MULTILINE), re.compile(r"^\s*[-*+]\s", re.MULTILINE))
_BOLD = (re.compile(r"\*\*[^*\n]+\*\*"), re.compile(r"__[^_\n]+__"))

# A feature is entangled with the models when a model-difference fit explains this share of it.
ENTANGLED_SHARE = 0.98

_CHUNK_CELLS = 2_000_000  # rounds x battles held at once in the bootstrap


@dataclass(frozen=True)
class StyleCoefficient:
    """beta of one style feature: log-odds per unit of spread, with its bootstrap interval."""

    feature: str
    value: float
    ci_low: float
    ci_high: float

    @property
    def points(self) -> float:
        """The same effect on the rating scale: points of rating one unit of spread is worth."""
        return self.value * POINTS_PER_NAT


@dataclass(frozen=True)
class StyleRatings:
    """ratings: aligned with evalkit.ratings.Rating (best first, Arena's interval ranks).
    coefficients: one per feature that varies; constant: features equal in every battle
    (nothing to learn from them, so left out of the fit). spread: the scale of each
    normalised feature (its root mean square), for reading a coefficient back.
    entangled: features whose difference is (almost) fixed by which two models meet, so
    the data cannot tell that style from the models' strengths."""

    ratings: list[Rating]
    coefficients: tuple[StyleCoefficient, ...]
    constant: tuple[str, ...]
    spread: dict[str, float]
    rounds: int
    ridge: float
    entangled: tuple[str, ...] = ()


def style_counts(text: str) -> tuple[int, int, int, int]:
    """(characters, markdown headers, list items, bold spans) of one answer, counted as Arena
    counts markdown (outside fenced code blocks). Length is in characters, where Arena counts
    tokens of its own tokenizer: the normalised difference hardly depends on the unit."""
    prose = _CODE_BLOCK.sub("", text)
    return (len(text), len(_HEADER.findall(prose)), sum(len(p.findall(prose)) for p in _LIST_ITEM),
            sum(len(p.findall(prose)) for p in _BOLD))


def normalised_differences(counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    """Arena's per-battle features before scaling: (a - b) / (a + b + 1), one column per feature."""
    a, b = np.asarray(counts_a, dtype=float), np.asarray(counts_b, dtype=float)
    return (a - b) / (a + b + 1.0)


def style_features(counts_a: np.ndarray, counts_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features scaled to unit root mean square, the scale of each column; 0 where a column is all 0)."""
    diffs = normalised_differences(counts_a, counts_b)
    spread = np.sqrt((diffs**2).mean(axis=0)) if len(diffs) else np.zeros(diffs.shape[1])
    scaled = np.divide(diffs, spread, out=np.zeros_like(diffs), where=spread > 0)
    return scaled, spread


def rate_with_style(battles: BattlesLike, texts_a: Sequence[str], texts_b: Sequence[str],
                    bootstrap_rounds: int = 1000, seed: int = 0, ridge: float = ARENA_RIDGE) -> StyleRatings:
    """Style-controlled ratings of every model in `battles`; texts_a[k], texts_b[k]: the answers
    of battle k's model_a and model_b. ridge must be > 0 (it keeps every resample finite)."""
    arrays = encode_battles(battles)
    if not (len(texts_a) == len(texts_b) == len(arrays)):
        raise BattleError(f"style control needs both answers of every battle: {len(arrays)} battles, "
                          f"{len(texts_a)} answers of model_a, {len(texts_b)} of model_b")
    if not (ridge > 0 and math.isfinite(ridge)):
        raise BattleError(f"ridge must be a finite number > 0, got {ridge!r}")
    if bootstrap_rounds < 0:
        raise BattleError(f"bootstrap_rounds must be >= 0, got {bootstrap_rounds}")
    counts_a = np.array([style_counts(t) for t in texts_a], dtype=float).reshape(-1, len(STYLE_FEATURES))
    counts_b = np.array([style_counts(t) for t in texts_b], dtype=float).reshape(-1, len(STYLE_FEATURES))
    features, spread = style_features(counts_a, counts_b)
    varies = spread > 0
    fitted = [f for f, v in zip(STYLE_FEATURES, varies) if v]
    point = fit_style_bradley_terry(arrays, features[:, varies], np.ones((1, len(arrays))), ridge)[0]
    m = len(arrays.models)
    intervals, coefficient_ci = _bootstrap(arrays, features[:, varies], bootstrap_rounds, seed, ridge, point)
    coefficients = tuple(StyleCoefficient(name, float(point[m + k]), *coefficient_ci[k])
                         for k, name in enumerate(fitted))
    return StyleRatings(ranked(pair_counts(arrays), _points(point[:m]), intervals), coefficients,
                        tuple(f for f, v in zip(STYLE_FEATURES, varies) if not v),
                        dict(zip(STYLE_FEATURES, spread.tolist())), bootstrap_rounds, ridge,
                        _entangled(arrays, features[:, varies], fitted))


def fit_style_bradley_terry(arrays: BattleArrays, features: np.ndarray, weights: np.ndarray,
                            ridge: float, start: np.ndarray | None = None) -> np.ndarray:
    """Natural-scale strengths (summing to 0) and feature coefficients, [rounds, models + features],
    maximising each row of `weights`' (battle multiplicities) penalised log-likelihood.

    Strengths are penalised as Arena's ratings in 400-point units are, ridge / ln(10)^2 on the
    natural scale; ridge 0 is the plain maximum-likelihood fit (finite only when the battles allow).
    start: parameters to start every row from (the full-data fit, for bootstrap rounds).
    """
    m, k = len(arrays.models), features.shape[1]
    x = np.concatenate([_model_design(arrays), features], axis=1)
    y = np.where(arrays.outcome == TIE, 0.5, np.where(arrays.outcome == B_WINS, 0.0, 1.0))
    penalty = np.concatenate([np.full(m, ridge / math.log(10.0) ** 2), np.full(k, float(ridge))])
    gauge = np.zeros((m + k, m + k))
    gauge[:m, :m] = 1.0 / m  # the likelihood fixes strengths only up to a common shift: pin their sum at 0
    return fit_logistic(x, y, np.asarray(weights, dtype=float), penalty, gauge, start)


def _model_design(arrays: BattleArrays) -> np.ndarray:
    """+1 in model_a's column, -1 in model_b's: the strengths' part of every battle's logit."""
    x = np.zeros((len(arrays), len(arrays.models)))
    rows = np.arange(len(arrays))
    x[rows, arrays.a] += 1.0
    x[rows, arrays.b] -= 1.0
    return x


def _entangled(arrays: BattleArrays, features: np.ndarray, names: list[str]) -> tuple[str, ...]:
    """Features that a least-squares fit on the model differences explains (almost) fully: with them
    the likelihood is flat along a line trading style for strength, and only the penalty picks a point."""
    if not names:
        return ()
    design = _model_design(arrays)
    fitted = design @ np.linalg.lstsq(design, features, rcond=None)[0]
    explained = 1.0 - ((features - fitted) ** 2).sum(axis=0) / (features**2).sum(axis=0)
    return tuple(name for name, share in zip(names, explained) if share >= ENTANGLED_SHARE)


def _points(theta: np.ndarray) -> np.ndarray:
    return INIT_RATING + POINTS_PER_NAT * (theta - theta.mean(axis=-1, keepdims=True))


def _bootstrap(arrays, features, rounds, seed, ridge, start):
    """(BootstrapIntervals of the ratings or None, [(2.5th, 97.5th percentile)] per coefficient)."""
    m, k, n = len(arrays.models), features.shape[1], len(arrays)
    if rounds == 0:
        return None, [(math.nan, math.nan)] * k
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    fits = []
    for done in range(0, rounds, chunk):
        size = min(chunk, rounds - done)
        # n draws with replacement per round, counted: multinomial(n, 1/n each), without its per-battle loop
        drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        weights = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(float)
        fits.append(fit_style_bradley_terry(arrays, features, weights, ridge, start))
    fits = np.concatenate(fits)
    low, median, high = np.percentile(_points(fits[:, :m]), [2.5, 50, 97.5], axis=0)
    coefficient_low, coefficient_high = np.percentile(fits[:, m:], [2.5, 97.5], axis=0)
    return (BootstrapIntervals(arrays.models, low, median, high, rounds),
            list(zip(coefficient_low.tolist(), coefficient_high.tolist())))
