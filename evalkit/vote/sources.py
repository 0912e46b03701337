"""What there is to vote on: the models' stored answers, and the LLM judge's verdicts.

Both come from other features (evalkit.answers, evalkit.judge.verdicts). Voting works without a
judge: with no verdicts in the store, pairs are simply not prioritised by them, and callers are
told why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evalkit import answers
from evalkit.judge.calibration import DEFAULT_RULE, RULES
from evalkit.judge.verdicts import judge_infos, judged_pairs
from evalkit.store import Store

# The command that fills the answers table; every "nothing to vote on" message names it.
ANSWERS_COMMAND = "evalkit answers --models base,sft --prompt-set NAME"


StoredAnswer = answers.Answer  # a model's stored answer to one prompt, as the answers table keeps it


@dataclass(frozen=True)
class JudgeVerdict:
    """One judged pair, the order-free outcome in the judge's own terms.

    winner: model_a's result as a Battle winner ('a', 'b', 'tie') or None when
    the judge gave no usable final verdict (the default position rule). flipped: the
    verdicts of the two presentation orders disagree (the judge was swayed by position).
    by_rule: the same under each other registered position rule, with the judge's tie band;
    None under a rule that needs verdict probabilities where the judgments carry none.
    """

    judge: str
    prompt_set: str
    prompt_id: str
    model_a: str
    model_b: str
    winner: str | None
    flipped: bool
    by_rule: dict[str, str | None] = field(default_factory=dict)

    def under(self, rule: str) -> str | None:
        return self.winner if rule == DEFAULT_RULE else self.by_rule.get(rule)

    @property
    def pair(self) -> tuple[str, str, str, str]:
        first, second = sorted((self.model_a, self.model_b))
        return (self.prompt_set, self.prompt_id, first, second)


@dataclass(frozen=True)
class JudgeData:
    verdicts: tuple[JudgeVerdict, ...]
    note: str  # why there are none (short: it fits the app's status line), or "" when verdicts were read


def stored_answers(store: Store, prompt_set: str | None = None,
                   models: list[str] | None = None) -> list[StoredAnswer]:
    """All stored answers (of `models` / `prompt_set` when given)."""
    return answers.stored_answers(store, prompt_set=prompt_set, models=models or None)


def judge_verdicts(store: Store, prompt_set: str | None = None) -> JudgeData:
    """The LLM judge's verdicts, or none with the reason why."""
    judged = judged_pairs(store, prompt_set=prompt_set)
    if not judged:
        return JudgeData((), "no LLM-judge verdicts in the store yet")
    infos = judge_infos(store)
    verdicts = tuple(
        JudgeVerdict(j.judge, j.prompt_set, j.prompt_id, j.model_a, j.model_b,
                     battle_winner(j.final, j.model_a, j.model_b),
                     j.verdict_ab is not None and j.verdict_ba is not None and j.verdict_ab != j.verdict_ba,
                     {name: battle_winner(rule.decide(j, _tie_band(infos, j)), j.model_a, j.model_b)
                      for name, rule in RULES.items() if name != DEFAULT_RULE})
        for j in judged
    )
    return JudgeData(verdicts, "")


def _tie_band(infos: dict, judged) -> float:
    return float(infos.get((judged.judge, judged.prompt_set), {}).get("tie_band") or 0.0)


def battle_winner(verdict: str | None, model_a: str, model_b: str) -> str | None:
    """A judge verdict as a Battle winner: 'a', 'b', 'tie', or None when unusable.

    Accepts verdicts naming the side ('a', 'model_a', 'A') or the model itself;
    'tie' and 'both_bad' are ties.
    """
    if verdict is None:
        return None
    text = verdict.strip()
    if text in (model_a, "model_a") or text.lower() == "a":
        return "a"
    if text in (model_b, "model_b") or text.lower() == "b":
        return "b"
    if text.lower() in ("tie", "both_bad", "tie (bothbad)"):
        return "tie"
    return None
