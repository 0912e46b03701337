"""Agreement between raters: annotators with each other, a judge with humans.

A vote is keyed by its item: (prompt id, the two models, in either order).
Its label is the winning model's name, or "tie" (both_bad included, as in
the ratings), so a vote with the models shown in swapped positions still
compares correctly.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.ratings.battles import Battle, BattleError

TIE_LABEL = "tie"
LabeledVote = tuple[str, Battle]  # (prompt id, battle)


@dataclass(frozen=True)
class Agreement:
    """n: label pairs compared; items: distinct items they come from;
    raw: fraction of pairs with equal labels; kappa: Cohen's kappa."""

    n: int
    raw: float
    kappa: float
    items: int


def cohen_kappa(labels_a: Sequence[str], labels_b: Sequence[str]) -> float:
    """Cohen's kappa: (observed - chance agreement) / (1 - chance agreement),
    chance from each rater's own label frequencies. NaN when chance agreement
    is 1 (both raters always gave the same single label), as scikit-learn."""
    if len(labels_a) != len(labels_b):
        raise BattleError(
            f"kappa needs one label per item from each rater, got "
            f"{len(labels_a)} and {len(labels_b)} labels"
        )
    if not labels_a:
        raise BattleError("kappa needs at least one pair of labels, got none")
    n = len(labels_a)
    observed = sum(x == y for x, y in zip(labels_a, labels_b)) / n
    freq_a, freq_b = Counter(labels_a), Counter(labels_b)
    chance = sum(freq_a[label] * freq_b[label] for label in freq_a) / (n * n)
    if chance == 1.0:
        return float("nan")
    return (observed - chance) / (1.0 - chance)


def agreement(pairs: Sequence[tuple[str, str]]) -> Agreement:
    """Raw agreement and Cohen's kappa over (rater 1 label, rater 2 label) pairs."""
    if not pairs:
        raise BattleError("agreement needs at least one pair of labels, got none")
    first, second = [p[0] for p in pairs], [p[1] for p in pairs]
    raw = sum(x == y for x, y in pairs) / len(pairs)
    return Agreement(len(pairs), raw, cohen_kappa(first, second), len(pairs))


def inter_annotator_agreement(
    votes: Sequence[LabeledVote], include_ties: bool = True
) -> Agreement:
    """Agreement between human votes on the same item.

    Every two votes on one item form a pair (n counts these pairs). Annotators
    are interchangeable here, so kappa is computed over each pair in both
    orders: it then does not depend on which vote is called first (this is
    Scott's pi / Fleiss' kappa for two ratings per item).
    include_ties=False drops pairs where either vote is a tie (MT-Bench's
    "w/o tie" agreement).
    """
    pairs, items = [], 0
    for labels in _labels_by_item(votes).values():
        item_pairs = _keep(itertools.combinations(labels, 2), include_ties)
        pairs.extend(item_pairs)
        items += bool(item_pairs)
    if not pairs:
        raise BattleError(
            f"no item has two votes to compare among {len(votes)} votes; "
            "collect several votes on the same prompt and pair of models"
        )
    raw = sum(x == y for x, y in pairs) / len(pairs)
    both_orders = pairs + [(y, x) for x, y in pairs]
    kappa = cohen_kappa([p[0] for p in both_orders], [p[1] for p in both_orders])
    return Agreement(len(pairs), raw, kappa, items)


def judge_human_agreement(
    judge: Sequence[LabeledVote], human: Sequence[LabeledVote], include_ties: bool = True
) -> Agreement:
    """Agreement of judge verdicts with human votes on the same items.

    Each judge verdict is paired with each human vote on its item (n counts
    the pairs); items only one side rated are left out. Kappa is Cohen's,
    judge as the first rater.
    """
    judge_labels, human_labels = _labels_by_item(judge), _labels_by_item(human)
    pairs, items = [], 0
    for key in judge_labels.keys() & human_labels.keys():
        item_pairs = _keep(itertools.product(judge_labels[key], human_labels[key]), include_ties)
        pairs.extend(item_pairs)
        items += bool(item_pairs)
    if not pairs:
        raise BattleError(
            f"no item is rated by both the judge ({len(judge)} verdicts) and humans "
            f"({len(human)} votes); items match on prompt id and the two models"
        )
    result = agreement(pairs)
    return Agreement(result.n, result.raw, result.kappa, items)


def _labels_by_item(votes: Sequence[LabeledVote]) -> dict[tuple, list[str]]:
    labels: dict[tuple, list[str]] = defaultdict(list)
    for prompt_id, battle in votes:
        key = (prompt_id, *sorted((battle.model_a, battle.model_b)))
        labels[key].append(_label(battle))
    return labels


def _label(battle: Battle) -> str:
    if battle.winner == "a":
        return battle.model_a
    if battle.winner == "b":
        return battle.model_b
    return TIE_LABEL


def _keep(pairs, include_ties: bool) -> list[tuple[str, str]]:
    pairs = list(pairs)
    if include_ties:
        return pairs
    return [(x, y) for x, y in pairs if TIE_LABEL not in (x, y)]
