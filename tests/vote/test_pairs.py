"""Which pair comes next: every pair once, skips to the back, judge flips and unsettled ratings first."""

from __future__ import annotations

import itertools

from evalkit.store.db import Store
from evalkit.vote.pairs import (
    Candidate,
    PairPicker,
    candidates,
    overlapping_model_pairs,
    shown,
)
from evalkit.vote.sources import JudgeData, JudgeVerdict, StoredAnswer
from evalkit.vote.votes import cast, undo_last, votes

NO_JUDGE = JudgeData((), "no LLM-judge verdicts in the store yet")


def answers(models=("base", "sft", "dpo"), n_prompts=4, prompt_set="chat") -> list[StoredAnswer]:
    return [StoredAnswer(m, prompt_set, f"p{i}", f"prompt {i}", f"{m} says {i}")
            for m in models for i in range(n_prompts)]


def test_candidates_pair_every_two_models_on_the_same_prompt():
    found = candidates(answers() + [StoredAnswer("rlhf", "chat", "p9", "lonely", "only one model answered")])
    assert len(found) == 4 * 3  # p9 has one answer: nothing to compare
    assert all(c.model_x < c.model_y for c in found)
    first = next(c for c in found if c.pair == ("chat", "p0", "base", "dpo"))
    assert (first.answer_x, first.answer_y, first.prompt) == ("base says 0", "dpo says 0", "prompt 0")


def test_candidates_keep_prompt_sets_apart():
    found = candidates(answers(("base", "sft"), 2, "chat") + answers(("base", "sft"), 2, "code"))
    assert sorted(c.pair for c in found) == [("chat", "p0", "base", "sft"), ("chat", "p1", "base", "sft"),
                                              ("code", "p0", "base", "sft"), ("code", "p1", "base", "sft")]


def test_shown_order_is_reproducible_random_and_keeps_answers_with_their_models():
    pool = [Candidate("chat", f"p{i}", "q", "base", "sft", f"base {i}", f"sft {i}") for i in range(400)]
    alice = [shown("alice", c) for c in pool]
    assert alice == [shown("alice", c) for c in pool]
    assert all(m.answer_left == f"{m.model_left} {m.prompt_id[1:]}" for m in alice)
    swapped = sum(m.model_left == "sft" for m in alice) / len(pool)
    assert 0.4 < swapped < 0.6
    differs = sum(a.model_left != shown("bob", c).model_left for a, c in zip(alice, pool)) / len(pool)
    assert 0.4 < differs < 0.6  # each annotator gets their own order


def test_every_pair_is_shown_once_then_nothing_unless_repeat(tmp_path):
    store = Store(tmp_path / "s.db")
    pool = candidates(answers())
    picker = PairPicker(store, "alice", pool, NO_JUDGE, seed=3)
    seen = []
    while (matchup := picker.next()) is not None:
        seen.append(matchup.pair)
        cast(store, "alice", matchup, "left")
        assert len(seen) <= len(pool), "the picker showed a pair twice"
    assert sorted(seen) == sorted(c.pair for c in pool)
    assert picker.progress().pairs_left == 0 and picker.progress().votes == len(pool)
    again = PairPicker(store, "alice", pool, NO_JUDGE, repeat=True, seed=3).next()
    assert again is not None and again.pair in seen
    assert PairPicker(store, "bob", pool, NO_JUDGE, seed=3).next() is not None  # bob's queue is his own


def test_a_skipped_pair_goes_to_the_back_and_undo_brings_it_back(tmp_path):
    store = Store(tmp_path / "s.db")
    pool = candidates(answers(n_prompts=2))
    picker = PairPicker(store, "alice", pool, NO_JUDGE)
    first = picker.next()
    cast(store, "alice", first, "skip")
    order = []
    while (matchup := picker.next()).pair != first.pair:
        order.append(matchup.pair)
        cast(store, "alice", matchup, "tie")
    assert len(order) == len(pool) - 1  # every other pair came before the skipped one
    assert picker.progress().skipped == 1 and picker.progress().pairs_left == 1
    undone = undo_last(store, "alice")
    assert picker.matchup_for(undone).pair == order[-1]
    assert picker.matchup_for(undone).model_left == undone.model_left


def test_pairs_the_judge_flipped_on_come_first(tmp_path):
    store = Store(tmp_path / "s.db")
    pool = candidates(answers(n_prompts=6))
    flipped = [("chat", "p4", "base", "sft"), ("chat", "p1", "dpo", "sft")]
    judge = JudgeData(tuple(JudgeVerdict("gpt", s, p, y, x, "a", True) for s, p, x, y in flipped)
                      + (JudgeVerdict("gpt", "chat", "p2", "base", "dpo", "b", False),), "")
    picker = PairPicker(store, "alice", pool, judge)
    first_two = []
    for _ in range(2):
        matchup = picker.next()
        first_two.append(matchup.pair)
        cast(store, "alice", matchup, "left")
    assert sorted(first_two) == sorted(flipped)


def _settle(store, winner_model, loser_model, n, annotator="crowd"):
    for i in range(n):
        left, right = (winner_model, loser_model) if i % 2 else (loser_model, winner_model)
        matchup = shown(annotator, Candidate("old", f"q{i}", "", *sorted((left, right)), "x", "y"))
        cast(store, annotator, matchup, "left" if matchup.model_left == winner_model else "right")


def test_overlapping_intervals_outrank_settled_pairs(tmp_path):
    store = Store(tmp_path / "s.db")
    # base lost 40 of 40 to each of sft and dpo (settled); sft vs dpo is even (unsettled).
    _settle(store, "sft", "base", 40)
    _settle(store, "dpo", "base", 40)
    for i in range(10):
        cast(store, "crowd", shown("crowd", Candidate("old", f"e{i}", "", "dpo", "sft", "x", "y")),
             "left" if i % 2 else "right")
    overlap = overlapping_model_pairs(votes(store), ["base", "dpo", "sft"])
    assert overlap == {frozenset(("dpo", "sft"))}
    picker = PairPicker(store, "alice", candidates(answers(n_prompts=5)), NO_JUDGE)
    shown_first = []
    for _ in range(5):
        matchup = picker.next()
        shown_first.append((matchup.model_left, matchup.model_right))
        cast(store, "alice", matchup, "tie")
    assert all(set(pair) == {"dpo", "sft"} for pair in shown_first)


def test_without_votes_every_model_pair_overlaps():
    models = ["base", "dpo", "sft"]
    assert overlapping_model_pairs([], models) == {frozenset(p) for p in itertools.combinations(models, 2)}


def test_a_regenerated_answer_makes_its_pair_new_again(tmp_path):
    from voting_project import write_project

    from evalkit.vote.sources import stored_answers

    write_project(tmp_path, models=("base", "sft"), n_prompts=2)
    store = Store(tmp_path / "store.db")
    picker = PairPicker(store, "alice", candidates(stored_answers(store)), NO_JUDGE)
    while (matchup := picker.next()) is not None:
        cast(store, "alice", matchup, "left")
    # sft is retrained and answers p01 differently: that pair needs a fresh vote.
    store.db.execute("UPDATE answers SET answer='a new answer' WHERE model='sft' AND prompt_id='p01'")
    picker = PairPicker(store, "alice", candidates(stored_answers(store)), NO_JUDGE)
    again = picker.next()
    assert again.pair == ("chat", "p01", "base", "sft")
    assert "a new answer" in (again.answer_left, again.answer_right)
    assert (picker.progress().votes, picker.progress().pairs_left) == (1, 1)
