"""Battles (one pairwise vote each) and their array and count forms.

Every rating method reads battles through `BattleArrays` (model indices and
outcome codes in numpy arrays), and the Bradley–Terry fit and its bootstrap
read only the aggregated `PairCounts`: with 10 models, 100,000 votes collapse
into at most 135 cells, which is what makes 1,000 bootstrap rounds cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalkit.errors import DataError

WINNERS = ("a", "b", "tie", "both_bad")

# Outcome codes in BattleArrays. "both_bad" is a tie for every statistic here,
# as Chatbot Arena counts "tie (bothbad)".
A_WINS, B_WINS, TIE = 0, 1, 2
_OUTCOME_CODE = {"a": A_WINS, "b": B_WINS, "tie": TIE, "both_bad": TIE}


class BattleError(DataError, ValueError):
    """Bad battle input; a ValueError too, so plain callers can catch it."""


@dataclass(frozen=True)
class Battle:
    """One vote between two models' answers to the same prompt.

    winner: "a" (model_a won), "b" (model_b won), "tie", or "both_bad"
    (both answers bad; counted as a tie).
    """

    model_a: str
    model_b: str
    winner: str

    def __post_init__(self) -> None:
        for side in ("model_a", "model_b"):
            name = getattr(self, side)
            if not isinstance(name, str) or not name:
                raise BattleError(f"{side} must be a non-empty model name, got {name!r}")
        if self.winner not in _OUTCOME_CODE:
            raise BattleError(
                f"unknown winner {self.winner!r} in battle {self.model_a!r} vs "
                f"{self.model_b!r}; expected one of {', '.join(map(repr, WINNERS))}"
            )
        if self.model_a == self.model_b:
            raise BattleError(
                f"battle of model {self.model_a!r} against itself; a battle needs "
                "two different models"
            )


@dataclass(frozen=True)
class BattleArrays:
    """Battles as arrays: `a[k]`, `b[k]` index into `models`; `outcome[k]` is
    A_WINS, B_WINS or TIE. Build with `encode_battles` or `from_indices`."""

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @classmethod
    def from_indices(
        cls, models: Sequence[str], a: np.ndarray, b: np.ndarray, outcome: np.ndarray
    ) -> BattleArrays:
        """Validated constructor for callers that already hold index arrays
        (synthetic data, the store): no per-battle Python objects needed."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        outcome = np.asarray(outcome, dtype=np.int8)
        if not (a.shape == b.shape == outcome.shape and a.ndim == 1):
            raise BattleError(
                f"a, b and outcome must be 1-D and of equal length, got shapes "
                f"{a.shape}, {b.shape}, {outcome.shape}"
            )
        if len(set(models)) != len(models):
            raise BattleError(f"model names must be unique, got {list(models)}")
        _check_indices(a, b, outcome, len(models))
        return cls(tuple(models), a, b, outcome)


def _check_indices(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int) -> None:
    for name, idx in (("a", a), ("b", b)):
        bad = (idx < 0) | (idx >= n_models)
        if bad.any():
            raise BattleError(
                f"model index {int(idx[bad][0])} in {name!r} is outside 0..{n_models - 1}"
            )
    same = np.flatnonzero(a == b)
    if len(same):
        raise BattleError(
            f"battle {int(same[0])} is model index {int(a[same[0]])} against "
            "itself; a battle needs two different models"
        )
    bad_outcome = ~np.isin(outcome, (A_WINS, B_WINS, TIE))
    if bad_outcome.any():
        raise BattleError(
            f"outcome code {int(outcome[bad_outcome][0])} is not one of "
            f"{A_WINS} (a wins), {B_WINS} (b wins), {TIE} (tie)"
        )


BattlesLike = Sequence[Battle] | BattleArrays


def encode_battles(battles: BattlesLike) -> BattleArrays:
    """Battles → arrays; models sorted by name so the result does not depend
    on battle order. BattleArrays pass through unchanged."""
    if isinstance(battles, BattleArrays):
        if len(battles) == 0:
            raise BattleError("no battles given; rate at least one vote")
        return battles
    if len(battles) == 0:
        raise BattleError("no battles given; rate at least one vote")
    for k, battle in enumerate(battles):
        if not isinstance(battle, Battle):
            raise BattleError(f"battle {k} is a {type(battle).__name__}, expected Battle")
    models = tuple(sorted({m for bt in battles for m in (bt.model_a, bt.model_b)}))
    index = {m: i for i, m in enumerate(models)}
    a = np.fromiter((index[bt.model_a] for bt in battles), np.int64, len(battles))
    b = np.fromiter((index[bt.model_b] for bt in battles), np.int64, len(battles))
    outcome = np.fromiter((_OUTCOME_CODE[bt.winner] for bt in battles), np.int8, len(battles))
    return BattleArrays(models, a, b, outcome)


@dataclass(frozen=True)
class PairCounts:
    """Aggregated battles. wins[i, j]: battles models[i] won against models[j]
    (in either position); ties[i, j] == ties[j, i]: ties, both_bad included."""

    models: tuple[str, ...]
    wins: np.ndarray
    ties: np.ndarray

    def index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError:
            raise BattleError(f"unknown model {model!r}; the battles have {list(self.models)}") from None

    def between(self, model: str, opponent: str) -> tuple[int, int, int]:
        """(wins, ties, losses) of `model` against `opponent`."""
        i, j = self.index(model), self.index(opponent)
        return int(self.wins[i, j]), int(self.ties[i, j]), int(self.wins[j, i])

    def battles_per_model(self) -> np.ndarray:
        return self.wins.sum(axis=1) + self.wins.sum(axis=0) + self.ties.sum(axis=1)


def pair_counts(battles: BattlesLike) -> PairCounts:
    """Count wins and ties per pair of models, ignoring which side each was on."""
    arrays = encode_battles(battles)
    m = len(arrays.models)
    winner = np.where(arrays.outcome == B_WINS, arrays.b, arrays.a)
    loser = np.where(arrays.outcome == B_WINS, arrays.a, arrays.b)
    decisive = arrays.outcome != TIE
    wins = np.bincount(winner[decisive] * m + loser[decisive], minlength=m * m).reshape(m, m)
    tied = ~decisive
    ties = np.bincount(arrays.a[tied] * m + arrays.b[tied], minlength=m * m).reshape(m, m)
    return PairCounts(arrays.models, wins, ties + ties.T)
