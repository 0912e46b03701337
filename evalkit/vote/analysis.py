"""Votes → ratings, win rates and agreement, all computed by evalkit.ratings.

Both rating methods are reported: Bradley–Terry by maximum likelihood (order-free,
the one to trust) and online Elo in vote order exactly as Chatbot Arena first
computed it (K=4, initial 1000, a tie or "both bad" scores half), each with 95%
bootstrap intervals and Arena's interval ranks; and beside them the style-controlled
Bradley–Terry fit (evalkit.ratings.style), read from the texts the votes were cast on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalkit.answers import MissingAnswersError, pair_texts
from evalkit.judge.calibration import DEFAULT_RULE, RULES
from evalkit.ratings import (
    Agreement,
    Battle,
    BattleError,
    NoFiniteRatingsError,
    PairCounts,
    Rating,
    StyleRatings,
    inter_annotator_agreement,
    judge_human_agreement,
    pair_counts,
    rate,
    rate_with_style,
    win_rate_matrix,
)
from evalkit.store.db import Store
from evalkit.vote import votes as vote_store
from evalkit.vote.sources import JudgeData, judge_verdicts, stored_answers
from evalkit.vote.votes import Vote

# Below this many votes a model's rating says little: online Elo from 2 votes is 1004 [1000, 1006] only
# because K=4 cannot move further, and a bootstrap over a handful of votes understates its spread.
MIN_VOTES = 10

_SIDE = {"left": "a", "right": "b", "tie": "tie", "both_bad": "both_bad"}
# Used only when the plain fit has no maximum (some model never lost or never won).
FALLBACK_PRIOR = 1.0


@dataclass(frozen=True)
class JudgeAgreement:
    judge: str
    agreement: Agreement
    rule: str = DEFAULT_RULE  # how the judge's two single-order verdicts became one (evalkit/judge/calibration.py)


@dataclass(frozen=True)
class VoteSummary:
    n_votes: int
    annotators: tuple[str, ...]
    n_prompts: int
    counts: PairCounts
    win_matrix: np.ndarray  # win_matrix[i, j]: counts.models[i] against counts.models[j], ties half
    bradley_terry: list[Rating]
    elo: list[Rating]
    inter_annotator: Agreement | None
    judge_human: tuple[JudgeAgreement, ...]
    rounds: int
    notes: tuple[str, ...]  # caveats the reader must see next to the numbers
    style: StyleRatings | None = None  # style-controlled Bradley–Terry; None when not asked for or not possible
    style_note: str = ""  # why `style` is None although it was asked for (an answer text is missing)


def battle(vote: Vote) -> Battle:
    return Battle(vote.model_left, vote.model_right, _SIDE[vote.winner])


def summarise(store: Store, prompt_set: str | None = None, models: Sequence[str] | None = None,
              rounds: int = 1000, seed: int = 0, judge: JudgeData | None = None,
              prior: float = 0.0, style: bool = True) -> VoteSummary | None:
    """Everything the ratings table and the leaderboard show; None when there are no votes.
    style: also fit the style-controlled ratings (left out, with the reason in style_note, when
    an answer a vote was cast on is no longer stored)."""
    decided = [v for v in vote_store.votes(store, prompt_set=prompt_set)
               if models is None or (v.model_left in models and v.model_right in models)]
    answers = stored_answers(store, prompt_set=prompt_set)
    hashes = vote_store.answer_hashes(answers)
    current = [v for v in decided if vote_store.is_current(v, hashes)]
    if not current:
        return None
    notes: list[str] = []
    if len(current) < len(decided):
        stale = len(decided) - len(current)
        notes.append(f"{stale} vote{'' if stale == 1 else 's'} on answers regenerated since (a retrained model) "
                     "left out; `evalkit vote` shows the new answers.")
    decided = current
    battles = [battle(v) for v in decided]
    bt, prior_used = bradley_terry_ratings(battles, rounds, seed, notes, prior)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        elo = rate(battles, method="elo", bootstrap_rounds=rounds, seed=seed)
    counts = pair_counts(battles)
    judge = judge if judge is not None else judge_verdicts(store, prompt_set)
    inter = _inter_annotator(decided, notes)
    judge_human = _judge_human(decided, judge, counts.models, notes)
    styled, style_note = _style(store, decided, battles, answers, rounds, seed) if style else (None, "")
    if styled is not None and prior_used > 0:
        notes.append(style_prior_note(prior_used))
    return VoteSummary(
        n_votes=len(decided), annotators=tuple(sorted({v.annotator for v in decided})),
        n_prompts=len({(v.prompt_set, v.prompt_id) for v in decided}), counts=counts,
        win_matrix=win_rate_matrix(counts), bradley_terry=bt, elo=elo, inter_annotator=inter,
        judge_human=judge_human, rounds=rounds, notes=tuple(notes), style=styled, style_note=style_note)


def _style(store: Store, decided: Sequence[Vote], battles: list[Battle], answers, rounds: int,
           seed: int) -> tuple[StyleRatings | None, str]:
    """Current votes were cast on the stored texts (same hash) or on texts no longer stored: the latter
    cannot be featurised, and the whole fit is left out rather than fitted on a different set of votes."""
    texts = {(a.prompt_set, a.prompt_id, a.model): a.answer for a in answers}
    items = [(v.prompt_set, v.prompt_id, v.model_left, v.model_right) for v in decided]
    try:
        left, right = pair_texts(items, texts, "vote", store.path)
    except MissingAnswersError as err:
        return None, str(err)
    return rate_with_style(battles, left, right, bootstrap_rounds=rounds, seed=seed), ""


def style_prior_note(prior: float) -> str:
    return (f"Style-controlled ratings keep Arena's L2 penalty where the plain ones use prior={prior:g}: "
            "their “change” column holds that difference too.")


def bradley_terry_ratings(battles: list[Battle], rounds: int, seed: int, notes: list[str],
                          prior: float = 0.0) -> tuple[list[Rating], float]:
    """(ratings, the prior they were fitted with): one virtual tie per pair where the plain fit has no
    maximum, with what the reader must know added to `notes`."""
    fitted: list[str] = []  # how the ratings were fitted: said only when some rating is shown
    ratings, prior = _fit(battles, rounds, seed, fitted, prior)
    if any(r.n_battles >= MIN_VOTES for r in ratings):
        notes += fitted
    else:
        notes.append(f"Bradley–Terry: no rating is shown until a model has {MIN_VOTES} votes.")
    return ratings, prior


def _fit(battles: list[Battle], rounds: int, seed: int, notes: list[str], prior: float) -> tuple[list[Rating], float]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        if prior > 0:
            notes.append(f"Bradley–Terry fitted with prior={prior:g} (virtual ties per pair of models), which "
                         "pulls ratings together.")
        try:
            ratings = rate(battles, method="bt", bootstrap_rounds=rounds, seed=seed, prior=prior)
        except NoFiniteRatingsError as err:
            notes.append(f"Bradley–Terry: {err} Shown with prior={FALLBACK_PRIOR} "
                         "(one virtual tie per pair of models), which pulls ratings together.")
            ratings = rate(battles, method="bt", bootstrap_rounds=rounds, seed=seed, prior=FALLBACK_PRIOR)
            prior = FALLBACK_PRIOR
    for warning in caught:
        if issubclass(warning.category, RuntimeWarning):
            notes.append(f"Bradley–Terry bootstrap: {warning.message}")
    return ratings, prior


def latest_per_annotator(decided: Sequence[Vote]) -> list[Vote]:
    """One vote per annotator and pair (the latest), so repeated votes with --repeat do
    not count as agreement of an annotator with themself."""
    latest: dict[tuple, Vote] = {}
    for vote in decided:
        latest[(vote.annotator, vote.pair)] = vote
    return sorted(latest.values(), key=lambda v: v.id)


def labeled(decided: Sequence[Vote]) -> list[tuple[str, Battle]]:
    # Items are keyed by prompt set and id together: two sets may reuse the same ids.
    return [(f"{v.prompt_set}/{v.prompt_id}", battle(v)) for v in decided]


def _inter_annotator(decided: Sequence[Vote], notes: list[str]) -> Agreement | None:
    try:
        return inter_annotator_agreement(labeled(latest_per_annotator(decided)))
    except BattleError:
        notes.append("Inter-annotator agreement: no pair has votes from two annotators yet.")
        return None


def _judge_human(decided: Sequence[Vote], judge: JudgeData, models: Sequence[str],
                 notes: list[str]) -> tuple[JudgeAgreement, ...]:
    if not judge.verdicts:
        notes.append(f"Judge–human agreement: {judge.note}.")
        return ()
    human = labeled(latest_per_annotator(decided))
    found = []
    for name in sorted({v.judge for v in judge.verdicts}):
        mine = [v for v in judge.verdicts if v.judge == name and v.model_a in models and v.model_b in models]
        unusable = sum(v.judge == name and v.winner is None for v in judge.verdicts)
        if unusable:
            notes.append(f"Judge–human agreement: judge {name!r} gave no usable final verdict on {unusable} "
                         f"pair{'' if unusable == 1 else 's'}; left out.")
        rules = {rule: [(v, v.under(rule)) for v in mine] for rule in RULES  # the rules the report shows
                 if rule == DEFAULT_RULE or any(v.under(rule) is not None for v in mine)}
        for rule, decided in rules.items():
            verdicts = [(f"{v.prompt_set}/{v.prompt_id}", Battle(v.model_a, v.model_b, winner))
                        for v, winner in decided if winner is not None]
            try:
                found.append(JudgeAgreement(name, judge_human_agreement(verdicts, human), rule))
            except BattleError:
                notes.append(f"Judge–human agreement: judge {name!r} has not judged any pair humans voted on.")
                break
    return tuple(found)
