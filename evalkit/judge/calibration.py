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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from evalkit.judge.verdicts import JudgedPair

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


@dataclass(frozen=True)
class PositionRule:
    """How a pair's two single-order verdicts become one: `decide(pair, tie_band)` -> "a" | "b" | "tie" | None."""

    name: str
    text: str  # what the leaderboard says of it
    decide: Callable[[JudgedPair, float], str | None]
    needs_probabilities: bool = False  # decides from verdict probabilities (methods that give them)


RULES: dict[str, PositionRule] = {}
DEFAULT_RULE = "strict"


def register_rule(rule: PositionRule) -> PositionRule:
    if rule.name in RULES:
        raise ValueError(f"a position rule named {rule.name!r} is already registered")
    RULES[rule.name] = rule
    return rule


register_rule(PositionRule("strict", "strict rule (MT-Bench): a win only when both orders agree, else a tie",
                           lambda pair, band: pair.final))  # `final` is stored under this rule when judging
register_rule(PositionRule("calibrated", "calibrated rule (balanced position calibration): verdict probabilities "
                           "averaged over both orders",
                           lambda pair, band: calibrated_verdict(pair.probs_ab, pair.probs_ba, band),
                           needs_probabilities=True))


def under_rule(pairs: Sequence[JudgedPair], rule: str, tie_band: float = 0.0) -> list[JudgedPair]:
    """The pairs with `final` decided by the registered `rule`."""
    if rule not in RULES:
        raise ValueError(f"unknown position rule {rule!r}; expected one of {', '.join(RULES)}")
    return [replace(p, final=RULES[rule].decide(p, tie_band)) for p in pairs]


def usable_rules(pairs: Sequence[JudgedPair]) -> list[str]:
    """The rules that can decide these pairs: those needing verdict probabilities only when some pair has them."""
    return [name for name, rule in RULES.items() if not rule.needs_probabilities or has_probabilities(pairs)]


def rules_for(info: dict, pairs: list[JudgedPair]) -> tuple[str, dict[str, list[JudgedPair]], str]:
    """(the rule the judge asked for, {rule: pairs decided by it} with that rule first, a note on the choice)."""
    wanted = info.get("position", DEFAULT_RULE)
    band = float(info.get("tie_band") or 0.0)
    by_rule = {name: under_rule(pairs, name, band) for name in usable_rules(pairs)}
    note = ""
    if any(RULES[name].needs_probabilities for name in by_rule):
        note = f" Calibrated tie band: a preference within {band:g} of 0.5 is a tie."
    if wanted not in by_rule:
        wanted, note = DEFAULT_RULE, (f" The judge asks for the {wanted} rule, but no stored judgment has verdict "
                                      "probabilities (judged before they were stored: `evalkit judge` re-judges "
                                      f"them); the {DEFAULT_RULE} rule is shown.")
    ordered = {wanted: by_rule[wanted], **by_rule}
    return wanted, ordered, note
