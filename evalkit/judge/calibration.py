"""How a pair's two single-order verdicts become one: the strict rule and the calibrated one.

strict (MT-Bench): a win only when both orders name the same model; anything else
is a tie. A judge that always prefers the answer shown first gets all ties.

calibrated: balanced position calibration (Wang et al. 2023, "Large Language
Models are not Fair Evaluators"): each answer is scored in both positions and
the scores averaged. Here the scores are the judge's verdict probabilities:

    P(a) = (P_ab(first) + P_ba(second)) / 2      P(b) = (P_ab(second) + P_ba(first)) / 2
    P(tie) = (P_ab(tie) + P_ba(tie)) / 2

A constant pull toward one position adds the same amount to P(a) and P(b), so
it cancels, and what is left is the judge's preference between the answers. The
verdict is a tie when P(tie) is the largest of the three, or when the preference
P(a) / (P(a) + P(b)) is within `tie_band` of 0.5; otherwise the model it favours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from evalkit.judge.verdicts import JudgedPair

RULES = ("strict", "calibrated")
RULE_TEXT = {"strict": "strict rule (MT-Bench): a win only when both orders agree, else a tie",
             "calibrated": "calibrated rule (balanced position calibration): verdict probabilities averaged "
                           "over both orders"}

Probs = tuple[float, float, float]  # P(first shown better), P(second shown better), P(tie)


def balanced_probabilities(probs_ab: Probs, probs_ba: Probs) -> Probs:
    """(P(a better), P(b better), P(tie)) for model_a/model_b, averaged over both shown orders."""
    first_ab, second_ab, tie_ab = probs_ab
    first_ba, second_ba, tie_ba = probs_ba
    return (first_ab + second_ba) / 2, (second_ab + first_ba) / 2, (tie_ab + tie_ba) / 2


def calibrated_verdict(probs_ab: Probs | None, probs_ba: Probs | None, tie_band: float = 0.0) -> str | None:
    """"a" | "b" | "tie"; None when either order has no probabilities (unscored, or a method without them)."""
    if probs_ab is None or probs_ba is None:
        return None
    p_a, p_b, p_tie = balanced_probabilities(probs_ab, probs_ba)
    if p_tie >= max(p_a, p_b) or p_a + p_b == 0:
        return "tie"
    preference = p_a / (p_a + p_b)
    if abs(preference - 0.5) <= tie_band:
        return "tie"
    return "a" if preference > 0.5 else "b"


def has_probabilities(pairs: Sequence[JudgedPair]) -> bool:
    """Whether any pair can be decided by the calibrated rule."""
    return any(p.probs_ab is not None and p.probs_ba is not None for p in pairs)


def under_rule(pairs: Sequence[JudgedPair], rule: str, tie_band: float = 0.0) -> list[JudgedPair]:
    """The pairs with `final` decided by `rule`: "strict" as stored, "calibrated" from the probabilities."""
    if rule not in RULES:
        raise ValueError(f"unknown position rule {rule!r}; expected one of {', '.join(RULES)}")
    if rule == "strict":
        return list(pairs)
    return [replace(p, final=calibrated_verdict(p.probs_ab, p.probs_ba, tie_band)) for p in pairs]


def rules_for(info: dict, pairs: list[JudgedPair]) -> tuple[str, dict[str, list[JudgedPair]], str]:
    """(the rule the judge asked for, {rule: pairs decided by it} with that rule first, a note on the choice)."""
    wanted = info.get("position", "strict")
    band = float(info.get("tie_band") or 0.0)
    by_rule = {"strict": list(pairs)}
    note = ""
    if has_probabilities(pairs):
        by_rule["calibrated"] = under_rule(pairs, "calibrated", band)
        note = f" Calibrated tie band: a preference within {band:g} of 0.5 is a tie."
    elif wanted == "calibrated":
        wanted, note = "strict", (" The judge asks for the calibrated rule, but no stored judgment has verdict "
                                  "probabilities (judged before they were stored: `evalkit judge` re-judges them); "
                                  "the strict rule is shown.")
    ordered = {wanted: by_rule[wanted], **by_rule}
    return wanted, ordered, note
