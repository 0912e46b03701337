"""Agreement between two sets of final verdicts on the same items: the strict and the calibrated
rule of one judge, or two judges on one prompt set.

An item is a prompt and a pair of models (stored in name order, so two judges' items match);
its label is "a", "b" or "tie". Reported as MT-Bench reports judge agreement: the share of
items with the same label, with ties and without (items either side called a tie left out),
each with n, a 95% Wilson interval and Cohen's kappa.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.judge.verdicts import JudgedPair
from evalkit.ratings import cohen_kappa
from evalkit.scoring.stats import Estimate, wilson_ci


@dataclass(frozen=True)
class VerdictAgreement:
    share: Estimate  # value: fraction of items with the same label; n: items compared
    kappa: float  # NaN when both sides gave one label only


def _labels(pairs: Sequence[JudgedPair]) -> dict[tuple, str]:
    return {(p.prompt_set, p.prompt_id, p.model_a, p.model_b): p.final for p in pairs if p.final is not None}


def verdict_agreement(first: Sequence[JudgedPair], second: Sequence[JudgedPair],
                      include_ties: bool = True) -> VerdictAgreement | None:
    """None when no item has a verdict on both sides (after leaving ties out, if asked)."""
    left, right = _labels(first), _labels(second)
    items = [key for key in left if key in right]
    if not include_ties:
        items = [key for key in items if "tie" not in (left[key], right[key])]
    if not items:
        return None
    labels_left, labels_right = [left[k] for k in items], [right[k] for k in items]
    same = sum(x == y for x, y in zip(labels_left, labels_right))
    return VerdictAgreement(wilson_ci(same, len(items)), cohen_kappa(labels_left, labels_right))
