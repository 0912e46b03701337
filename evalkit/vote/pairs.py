"""Which pair to show next, and in which left/right order.

A candidate is one prompt answered by two of the chosen models. The annotator
sees first the pairs they have not voted on, and among those the ones that teach
the most:
  - the LLM judge flipped its verdict when the answers were swapped (the judge is
    unsure, so a human verdict is worth most there), then
  - the two models' rating intervals still overlap (their order is not settled).
Pairs skipped go to the back of the queue (latest skip last); a pair already voted
on comes back only with repeat=True, after every new one. Ties are broken by a
hash of annotator and pair: reproducible, and different for each annotator.

The left/right order is a hash of annotator, pair and how often the annotator has
voted on it, so it is random to the annotator but the same on every restart.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.ratings import Battle, rate
from evalkit.store.db import Store
from evalkit.vote import votes as vote_store
from evalkit.vote.sources import JudgeData, StoredAnswer
from evalkit.vote.votes import Matchup, Vote

PairKey = tuple[str, str, str, str]  # (prompt set, prompt id, model, model), models sorted

# Bootstrap rounds behind the "intervals overlap" priority: enough to tell settled
# from unsettled pairs, cheap enough to redo after every vote (a few ms).
PRIORITY_BOOTSTRAP_ROUNDS = 200
JUDGE_FLIPPED, INTERVALS_OVERLAP = 2, 1


@dataclass(frozen=True)
class Candidate:
    prompt_set: str
    prompt_id: str
    prompt: str
    model_x: str  # model_x < model_y by name
    model_y: str
    answer_x: str
    answer_y: str

    @property
    def pair(self) -> PairKey:
        return (self.prompt_set, self.prompt_id, self.model_x, self.model_y)


@dataclass(frozen=True)
class Progress:
    votes: int  # this annotator's votes on these pairs (skips not counted)
    pairs_left: int  # candidates this annotator has not voted on yet
    pairs_total: int
    skipped: int  # of the pairs left, how many the annotator skipped


def candidates(answers: Sequence[StoredAnswer]) -> list[Candidate]:
    """Every pair of models that answered the same prompt of the same set."""
    by_prompt: dict[tuple[str, str], dict[str, StoredAnswer]] = defaultdict(dict)
    for answer in answers:
        by_prompt[(answer.prompt_set, answer.prompt_id)][answer.model] = answer
    found = []
    for (prompt_set, prompt_id), answered in sorted(by_prompt.items()):
        for x, y in itertools.combinations(sorted(answered), 2):
            found.append(Candidate(prompt_set, prompt_id, answered[x].prompt, x, y,
                                   answered[x].answer, answered[y].answer))
    return found


def shown(annotator: str, candidate: Candidate, round_: int = 0) -> Matchup:
    """The candidate in the order this annotator sees it on this round."""
    swap = _hash_int(annotator, *candidate.pair, str(round_)) % 2 == 1
    left, right = (candidate.model_y, candidate.model_x) if swap else (candidate.model_x, candidate.model_y)
    answer = {candidate.model_x: candidate.answer_x, candidate.model_y: candidate.answer_y}
    return Matchup(candidate.prompt_set, candidate.prompt_id, candidate.prompt, left, right,
                   answer[left], answer[right])


def overlapping_model_pairs(decided: Sequence[Vote], models: Sequence[str], seed: int = 0) -> set[frozenset]:
    """Model pairs whose 95% Bradley–Terry intervals overlap; a model without votes overlaps all."""
    all_pairs = {frozenset(p) for p in itertools.combinations(models, 2)}
    battles = _battles(v for v in decided if v.model_left in models and v.model_right in models)
    if not battles:
        return all_pairs

    with warnings.catch_warnings():
        # Few votes make degenerate resamples; for ordering pairs the wide intervals are the point.
        warnings.simplefilter("ignore", RuntimeWarning)
        # prior=1: one virtual tie per pair keeps the fit finite with a handful of votes.
        ratings = {r.model: r for r in rate(battles, bootstrap_rounds=PRIORITY_BOOTSTRAP_ROUNDS, seed=seed, prior=1.0)}
    settled = {frozenset((a, b)) for a, b in itertools.combinations(ratings, 2)
               if ratings[a].ci_low > ratings[b].ci_high or ratings[b].ci_low > ratings[a].ci_high}
    return all_pairs - settled


def _battles(decided):
    side = {"left": "a", "right": "b", "tie": "tie", "both_bad": "both_bad"}
    return [Battle(v.model_left, v.model_right, side[v.winner]) for v in decided]


class PairPicker:
    """Reads the store on every call, so votes cast elsewhere (another annotator, a
    previous session) are always taken into account."""

    def __init__(self, store: Store, annotator: str, pool: Sequence[Candidate], judge: JudgeData,
                 repeat: bool = False, seed: int = 0):
        self.store, self.annotator, self.pool = store, annotator, list(pool)
        self.repeat, self.seed = repeat, seed
        self.models = sorted({m for c in self.pool for m in (c.model_x, c.model_y)})
        self.flipped = {v.pair for v in judge.verdicts if v.flipped}
        self.hashes = vote_store.answer_hashes(
            StoredAnswer(m, c.prompt_set, c.prompt_id, c.prompt, text)
            for c in self.pool for m, text in ((c.model_x, c.answer_x), (c.model_y, c.answer_y)))

    def _votes(self, annotator: str | None = None, include_skips: bool = False) -> list[Vote]:
        # Votes on answers regenerated since do not count: the new answers need votes of their own.
        found = vote_store.votes(self.store, annotator=annotator, include_skips=include_skips)
        return [v for v in found if vote_store.is_current(v, self.hashes)]

    def next(self) -> Matchup | None:
        """The next matchup to show, or None when this annotator has voted on every pair."""
        mine = self._votes(self.annotator, include_skips=True)
        times_voted = Counter(v.pair for v in mine if v.winner != vote_store.SKIP)
        last_skip = {v.pair: v.id for v in mine if v.winner == vote_store.SKIP}
        eligible = [c for c in self.pool if self.repeat or times_voted[c.pair] == 0]
        if not eligible:
            return None
        overlap = overlapping_model_pairs(self._votes(), self.models, self.seed)

        def order(candidate: Candidate):
            teaches = (JUDGE_FLIPPED * (candidate.pair in self.flipped)
                       + INTERVALS_OVERLAP * (frozenset((candidate.model_x, candidate.model_y)) in overlap))
            return (times_voted[candidate.pair], last_skip.get(candidate.pair, 0), -teaches,
                    _hash_int(self.annotator, *candidate.pair, str(self.seed)))

        best = min(eligible, key=order)
        return shown(self.annotator, best, times_voted[best.pair])

    def matchup_for(self, vote: Vote) -> Matchup | None:
        """The matchup a vote was cast on, in the order it was shown (None if no longer in the pool)."""
        for candidate in self.pool:
            if candidate.pair == vote.pair:
                answer = {candidate.model_x: candidate.answer_x, candidate.model_y: candidate.answer_y}
                return Matchup(candidate.prompt_set, candidate.prompt_id, candidate.prompt, vote.model_left,
                               vote.model_right, answer[vote.model_left], answer[vote.model_right])
        return None

    def progress(self) -> Progress:
        mine = self._votes(self.annotator, include_skips=True)
        decided = {v.pair for v in mine if v.winner != vote_store.SKIP}
        pool = {c.pair for c in self.pool}
        skipped = {v.pair for v in mine if v.winner == vote_store.SKIP} & (pool - decided)
        n_votes = sum(v.winner != vote_store.SKIP and v.pair in pool for v in mine)
        return Progress(n_votes, len(pool - decided), len(pool), len(skipped))


def _hash_int(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")
