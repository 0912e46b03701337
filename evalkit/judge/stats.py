"""The numbers of a pairwise judge: per-pair win rates, the length-controlled win
rate, position bias (flips, and MT-Bench's split of the items), and ratings of
all models from the final verdicts.

Win rates count a tie as half a win (as the Bradley–Terry fit does) with a 95%
Wilson interval (evalkit.ratings). The length-controlled win rate follows
AlpacaEval 2: a logistic model of the verdict given the answers' length
difference, P(win) = sigmoid(theta + phi * tanh(diff / sd(diff))), read at zero
length difference, sigmoid(theta); its interval is a seeded bootstrap over
prompts (widened to the Wilson interval when every verdict is the same, where
resampling cannot show any uncertainty). Lengths are in characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalkit.answers import answer_texts, pair_texts
from evalkit.judge.verdicts import JudgedPair
from evalkit.ratings import Battle, StyleRatings, WinRate, fit_logistic, rate_with_style, win_rate
from evalkit.store import Store
from evalkit.scoring.stats import Estimate, wilson_ci

OUTCOME = {"a": 1.0, "b": 0.0, "tie": 0.5}
# Ridge penalties of the length model: small on the intercept (finite when one model wins every
# prompt), larger on the length slope (no length effect unless the data show one).
THETA_PENALTY, PHI_PENALTY = 0.1, 1.0


@dataclass(frozen=True)
class PairStats:
    model: str
    opponent: str
    wins: int
    ties: int
    losses: int
    unscored: int
    rate: WinRate | None  # None when no verdict is scored
    lc_rate: float | None
    lc_low: float | None
    lc_high: float | None


@dataclass(frozen=True)
class PositionBias:
    both_orders: int  # prompt × pair items with both orders scored
    flips: int  # of those, how many changed verdict when the order was swapped
    decisive: int  # single-order verdicts that picked a side
    first_wins: int  # of those, how many picked the answer shown first
    first_rate: WinRate | None


def pair_stats(pairs: Sequence[JudgedPair], lengths: dict[tuple, tuple[int, int]], model: str, opponent: str,
               seed: int = 0, rounds: int = 1000) -> PairStats:
    """`model` against `opponent` over every prompt judged for that pair. lengths: (prompt_id,
    model_a, model_b) → (chars of model_a's answer, chars of model_b's answer)."""
    outcomes, diffs, unscored = [], [], 0
    for pair in pairs:
        if {pair.model_a, pair.model_b} != {model, opponent}:
            continue
        if pair.final is None:
            unscored += 1
            continue
        flipped = pair.model_a != model
        outcome = OUTCOME[pair.final]
        len_a, len_b = lengths.get((pair.prompt_id, pair.model_a, pair.model_b), (0, 0))
        outcomes.append(1.0 - outcome if flipped else outcome)
        diffs.append(float(len_b - len_a) if flipped else float(len_a - len_b))
    wins, losses = outcomes.count(1.0), outcomes.count(0.0)
    ties = len(outcomes) - wins - losses
    if not outcomes:
        return PairStats(model, opponent, 0, 0, 0, unscored, None, None, None, None)
    rate = win_rate(wins, ties, losses)
    lc, low, high = length_controlled_win_rate(outcomes, diffs, seed, rounds)
    if len(set(outcomes)) == 1:  # every resample is the same: the bootstrap shows no uncertainty, Wilson does
        low, high = min(low, rate.low), max(high, rate.high)
    return PairStats(model, opponent, wins, ties, losses, unscored, rate, lc, low, high)


def length_controlled_win_rate(outcomes: Sequence[float], length_diffs: Sequence[float], seed: int = 0,
                               rounds: int = 1000) -> tuple[float, float, float]:
    """(rate at zero length difference, 2.5th, 97.5th bootstrap percentile). outcomes: 1 win,
    0.5 tie, 0 loss; length_diffs: own length minus the opponent's."""
    y = np.asarray(outcomes, dtype=float)
    diffs = np.asarray(length_diffs, dtype=float)
    scale = diffs.std()
    feature = np.tanh(diffs / scale) if scale > 0 else np.zeros_like(diffs)
    x = np.stack([np.ones_like(feature), feature], axis=1)
    point = _fit(x, y, np.ones((1, len(y))))[0, 0]
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y)), size=rounds).astype(float)
    thetas = _fit(x, y, weights)[:, 0]
    low, high = np.percentile(_sigmoid(thetas), [2.5, 97.5])
    return float(_sigmoid(point)), float(low), float(high)


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Penalised logistic regression with fractional outcomes, one row of `weights` per bootstrap
    resample (evalkit.ratings.fit_logistic). Returns [rounds, 2] coefficients."""
    return fit_logistic(x, y, weights, np.array([THETA_PENALTY, PHI_PENALTY]))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))


def position_bias(rows: Sequence[dict], pairs: Sequence[JudgedPair]) -> PositionBias:
    """rows: single-order judgments (`shown` "A"/"B"/"tie"/None); pairs: both orders combined."""
    both = [p for p in pairs if p.verdict_ab is not None and p.verdict_ba is not None]
    flips = sum(p.verdict_ab != p.verdict_ba for p in both)
    decisive = [r["shown"] for r in rows if r["shown"] in ("A", "B")]
    first = decisive.count("A")
    rate = win_rate(first, 0, len(decisive) - first) if decisive else None
    return PositionBias(len(both), flips, len(decisive), first, rate)


@dataclass(frozen=True)
class PositionSplit:
    """MT-Bench's position-bias table (Zheng et al. 2023, Table 2) over the items judged in both orders:
    the share where the verdict held when the order was swapped, where the judge picked the answer shown
    first both times, the one shown second both times, and the rest (a tie in one order only). Each share
    is an Estimate: value, n, 95% Wilson interval."""

    n: int
    consistent: Estimate | None
    first_both: Estimate | None
    second_both: Estimate | None
    other: Estimate | None

    def counts(self) -> dict[str, int]:
        return {name: round(share.value * self.n) if share else 0
                for name, share in (("consistent", self.consistent), ("first_both", self.first_both),
                                    ("second_both", self.second_both), ("other", self.other))}


def position_split(pairs: Sequence[JudgedPair]) -> PositionSplit:
    both = [p for p in pairs if p.verdict_ab is not None and p.verdict_ba is not None]
    consistent = sum(p.verdict_ab == p.verdict_ba for p in both)
    first = sum(p.verdict_ab == "a" and p.verdict_ba == "b" for p in both)  # model_a first, then model_b first
    second = sum(p.verdict_ab == "b" and p.verdict_ba == "a" for p in both)
    other = len(both) - consistent - first - second
    if not both:
        return PositionSplit(0, None, None, None, None)
    return PositionSplit(len(both), *(wilson_ci(k, len(both)) for k in (consistent, first, second, other)))


def battles(pairs: Sequence[JudgedPair]) -> list[Battle]:
    """One battle per scored prompt × pair: the final verdict (a tie unless both orders agree)."""
    return [Battle(p.model_a, p.model_b, p.final) for p in pairs if p.final is not None]


def style_ratings(store: Store, pairs: Sequence[JudgedPair], rounds: int = 1000, seed: int = 0) -> StyleRatings:
    """Style-controlled Bradley–Terry of the same battles as `battles(pairs)`, the answers' texts read from
    the store (evalkit.answers.MissingAnswersError when one is gone)."""
    scored = [p for p in pairs if p.final is not None]
    prompt_sets = {p.prompt_set for p in scored}
    texts = answer_texts(store, next(iter(prompt_sets)) if len(prompt_sets) == 1 else None)
    texts_a, texts_b = pair_texts([(p.prompt_set, p.prompt_id, p.model_a, p.model_b) for p in scored], texts,
                                  "judged pair", store.path)
    return rate_with_style(battles(scored), texts_a, texts_b, bootstrap_rounds=rounds, seed=seed)
