"""An LLM judge's final verdicts rated as the votes are, for `evalkit ratings --judge NAME`: plain
Bradley–Terry (virtual ties only where the fit needs them) and, beside it, the style-controlled fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.errors import ConfigError, EvalkitError
from evalkit.judge.calibration import rules_for
from evalkit.judge.stats import battles, style_ratings
from evalkit.judge.verdicts import judge_infos, judged_pairs
from evalkit.ratings import Rating, StyleRatings
from evalkit.store import Store
from evalkit.vote.analysis import bradley_terry_ratings, style_prior_note


@dataclass(frozen=True)
class JudgeRatings:
    judge: str
    prompt_set: str
    rule: str  # the position rule the verdicts were decided by (the judge's own)
    n_verdicts: int
    bradley_terry: list[Rating]
    style: StyleRatings | None
    prior: float  # virtual ties per pair the plain fit used
    notes: tuple[str, ...]


def judge_ratings(store: Store, judge: str, prompt_set: str | None, models: Sequence[str] | None, rounds: int,
                  seed: int, prior: float = 0.0, style: bool = True) -> JudgeRatings:
    pairs = judged_pairs(store, prompt_set, judge)
    where = f" on prompt set {prompt_set!r}" if prompt_set else ""
    if not pairs:
        known = sorted({name for name, _ in judge_infos(store)})
        raise EvalkitError(f"no current verdicts of judge {judge!r}{where} in {store.path} (judges with verdicts: "
                           f"{', '.join(known) or 'none'}); judge with `evalkit judge --judge {judge}`")
    sets = sorted({p.prompt_set for p in pairs})
    if len(sets) > 1:
        raise ConfigError(f"judge {judge!r} judged prompt sets {', '.join(sets)}; name one with --prompt-set")
    if models:
        pairs = [p for p in pairs if p.model_a in models and p.model_b in models]
    rule, by_rule, _ = rules_for(judge_infos(store).get((judge, sets[0]), {}), pairs)
    decided = [p for p in by_rule[rule] if p.final is not None]
    if len({m for p in decided for m in (p.model_a, p.model_b)}) < 2:
        raise EvalkitError(f"judge {judge!r} has no scored verdict{where} between two of the models "
                           f"{', '.join(models) if models else ''}; judge them with `evalkit judge --judge {judge}`")
    notes: list[str] = []
    plain, prior_used = bradley_terry_ratings(battles(decided), rounds, seed, notes, prior)
    styled = style_ratings(store, decided, rounds, seed) if style else None
    if styled is not None and prior_used > 0:
        notes.append(style_prior_note(prior_used))
    return JudgeRatings(judge, sets[0], rule, len(decided), plain, styled, prior_used, tuple(notes))
