"""Votes → ratings and agreement: the left/right sides map to the right models, and
everything is what evalkit.ratings computes from the same battles."""

from __future__ import annotations

import math

import pytest

from evalkit.ratings import Battle, compute_online_elo, inter_annotator_agreement, rate
from evalkit.store.db import Store
from evalkit.vote.analysis import summarise
from evalkit.vote.sources import JudgeData, JudgeVerdict
from evalkit.vote.votes import Matchup, cast, undo_last

NO_JUDGE = JudgeData((), "no LLM-judge verdicts in the store yet")


def vote(store, annotator, prompt_id, left, right, winner, prompt_set="chat"):
    cast(store, annotator, Matchup(prompt_set, prompt_id, "q", left, right, "x", "y"), winner)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "s.db")


def test_no_votes_no_summary(store):
    assert summarise(store, judge=NO_JUDGE) is None


def test_the_model_shown_on_the_winning_side_gets_the_credit(store):
    # sft wins 7 of 9 from whichever side it was shown on.
    for i in range(9):
        left, right = ("sft", "base") if i % 2 else ("base", "sft")
        sft_won = i < 7
        vote(store, "alice", f"p{i}", left, right, ("left" if left == "sft" else "right") if sft_won
             else ("right" if left == "sft" else "left"))
    summary = summarise(store, rounds=200, judge=NO_JUDGE)
    assert [r.model for r in summary.bradley_terry] == ["sft", "base"]
    assert summary.counts.between("sft", "base") == (7, 0, 2)
    i, j = summary.counts.index("sft"), summary.counts.index("base")
    assert summary.win_matrix[i, j] == pytest.approx(7 / 9)


@pytest.mark.filterwarnings("ignore:.*bootstrap resamples:RuntimeWarning")
def test_ratings_are_evalkit_ratings_of_the_votes_in_order(store):
    plan = [("base", "sft", "right"), ("dpo", "base", "left"), ("sft", "dpo", "tie"), ("base", "dpo", "both_bad"),
            ("sft", "base", "left"), ("dpo", "sft", "right"), ("base", "sft", "left"), ("dpo", "base", "right")]
    for k, (left, right, winner) in enumerate(plan):
        vote(store, "alice", f"p{k}", left, right, winner)
    vote(store, "alice", "p99", "base", "sft", "skip")
    vote(store, "alice", "p98", "base", "sft", "left")
    undo_last(store, "alice")  # neither the skip nor the undone vote counts
    side = {"left": "a", "right": "b", "tie": "tie", "both_bad": "both_bad"}
    battles = [Battle(left, right, side[w]) for left, right, w in plan]
    summary = summarise(store, rounds=300, seed=5, judge=NO_JUDGE)
    assert summary.n_votes == len(plan)
    assert summary.bradley_terry == rate(battles, "bt", bootstrap_rounds=300, seed=5)
    assert summary.elo == rate(battles, "elo", bootstrap_rounds=300, seed=5)
    elo = compute_online_elo(battles)  # Arena's K=4, 1000 start, ties half, in vote order
    assert {r.model: r.rating for r in summary.elo} == pytest.approx(elo)


def test_a_model_that_never_lost_gets_a_regularised_fit_and_a_note(store):
    for i in range(12):  # enough votes for a rating to be shown, so how it was fitted is said
        vote(store, "alice", f"p{i}", "sft", "base", "left")
    summary = summarise(store, rounds=100, judge=NO_JUDGE)
    assert all(math.isfinite(r.rating) for r in summary.bradley_terry)
    assert any("prior=1.0" in note and "never lost" in note for note in summary.notes)


def test_models_filter_and_prompt_set_filter(store):
    vote(store, "alice", "p1", "sft", "base", "left")
    vote(store, "alice", "p1", "dpo", "base", "left")
    vote(store, "alice", "p1", "dpo", "sft", "right", prompt_set="code")
    assert summarise(store, models=["sft", "base"], rounds=0, judge=NO_JUDGE).n_votes == 1
    assert summarise(store, prompt_set="code", rounds=0, judge=NO_JUDGE).counts.models == ("dpo", "sft")


def test_inter_annotator_agreement_over_latest_votes_per_annotator(store):
    # alice and bob agree on p1 (sft), disagree on p2; carol alone on p3 adds no pair.
    vote(store, "alice", "p1", "sft", "base", "left")
    vote(store, "bob", "p1", "base", "sft", "right")
    vote(store, "alice", "p2", "sft", "base", "left")
    vote(store, "bob", "p2", "sft", "base", "left")
    vote(store, "carol", "p3", "sft", "base", "left")
    # alice repeats p2 and changes her mind to a tie: only her latest vote counts, and she is
    # never compared with herself (that would make 4 label pairs, not 2).
    vote(store, "alice", "p2", "base", "sft", "tie")
    summary = summarise(store, rounds=0, judge=NO_JUDGE)
    agreement = summary.inter_annotator
    assert (agreement.n, agreement.items, agreement.raw) == (2, 2, 0.5)
    expected = inter_annotator_agreement([("chat/p1", Battle("sft", "base", "a")),
                                          ("chat/p1", Battle("base", "sft", "b")),
                                          ("chat/p2", Battle("sft", "base", "a")),
                                          ("chat/p2", Battle("base", "sft", "tie"))])
    assert agreement == expected
    # By hand: labels sft ×3, tie ×1 on each side; p_o = 1/2, p_e = (3/4)² + (1/4)² = 5/8.
    assert agreement.kappa == pytest.approx((1 / 2 - 5 / 8) / (1 - 5 / 8))


def test_no_shared_pair_means_no_inter_annotator_agreement_and_a_note(store):
    vote(store, "alice", "p1", "sft", "base", "left")
    vote(store, "bob", "p2", "sft", "base", "left")
    summary = summarise(store, rounds=0, judge=NO_JUDGE)
    assert summary.inter_annotator is None
    assert any("two annotators" in note for note in summary.notes)
    assert any("no LLM-judge verdicts" in note for note in summary.notes)


def test_judge_human_agreement_per_judge_on_shared_pairs(store):
    vote(store, "alice", "p1", "sft", "base", "left")   # human: sft
    vote(store, "alice", "p2", "base", "sft", "left")   # human: base
    vote(store, "alice", "p3", "base", "sft", "tie")    # human: tie
    judge = JudgeData((
        JudgeVerdict("gpt", "chat", "p1", "base", "sft", "b", False),   # sft: agrees
        JudgeVerdict("gpt", "chat", "p2", "sft", "base", "a", True),    # sft: disagrees
        JudgeVerdict("gpt", "chat", "p3", "sft", "base", None, True),   # no verdict: left out
        JudgeVerdict("gpt", "chat", "p9", "sft", "base", "a", False),   # no human vote: left out
        JudgeVerdict("tiny", "chat", "p1", "sft", "base", "tie", False),
    ), "")
    summary = summarise(store, rounds=0, judge=judge)
    by_judge = {j.judge: j.agreement for j in summary.judge_human}
    assert (by_judge["gpt"].n, by_judge["gpt"].items, by_judge["gpt"].raw) == (2, 2, 0.5)
    assert (by_judge["tiny"].n, by_judge["tiny"].raw) == (1, 0.0)
    assert any("judge 'gpt' gave no usable final verdict on 1 pair;" in note for note in summary.notes)


def test_votes_on_regenerated_answers_are_left_out_with_a_note(tmp_path):
    from voting_project import write_project

    from evalkit.vote.pairs import candidates, shown
    from evalkit.vote.sources import stored_answers

    write_project(tmp_path, models=("base", "sft"), n_prompts=3)
    store = Store(tmp_path / "store.db")
    for candidate in candidates(stored_answers(store)):
        cast(store, "alice", shown("alice", candidate), "tie")
    store.db.execute("UPDATE answers SET answer='retrained' WHERE model='sft' AND prompt_id='p00'")
    summary = summarise(store, rounds=0, judge=NO_JUDGE)
    assert summary.n_votes == 2
    assert any(note.startswith("1 vote on answers regenerated since") for note in summary.notes)


def test_judge_human_agreement_is_given_under_both_rules_where_the_calibrated_one_was_computed(store):
    vote(store, "alice", "p1", "sft", "base", "left")   # human: sft
    vote(store, "alice", "p2", "sft", "base", "left")   # human: sft
    judge = JudgeData((  # a first-position-biased judge: strict ties, calibrated picks sft
        JudgeVerdict("tiny", "chat", "p1", "base", "sft", "tie", True, {"calibrated": "b"}),
        JudgeVerdict("tiny", "chat", "p2", "base", "sft", "tie", True, {"calibrated": "a"}),
    ), "")
    summary = summarise(store, rounds=0, judge=judge)
    by_rule = {j.rule: j.agreement for j in summary.judge_human}
    assert set(by_rule) == {"strict", "calibrated"}
    assert (by_rule["strict"].raw, by_rule["calibrated"].raw, by_rule["calibrated"].n) == (0.0, 0.5, 2)


def test_style_controlled_ratings_from_the_texts_the_votes_were_cast_on(tmp_path):
    # A voter who always picks the answer with more bold spans. sft bolds often, base rarely, and the
    # prompts vary, so bold is not tied to the model: style control finds bold, and sft's lead shrinks.
    store = Store(tmp_path / "s.db")
    bold = {"base": [k % 5 == 0 for k in range(40)], "sft": [k % 5 != 0 for k in range(40)]}
    texts = {(m, k): f"Answer {k} of {m}." + (" A **key** point, **stressed**." if bold[m][(k * 7) % 40] else
                                               " A key point, plainly said here.")
             for m in bold for k in range(40)}
    with store.transaction() as db:
        db.executemany("INSERT INTO answers VALUES (?,?,?,?,?,?,?)",
                       [(m, "fp-" + m, "chat", f"p{k}", "q", t, 0.0) for (m, k), t in texts.items()])
    for k in range(40):
        left, right = ("sft", "base") if k % 2 else ("base", "sft")
        text_left, text_right = texts[(left, k)], texts[(right, k)]
        winner = ("left" if text_left.count("**") > text_right.count("**") else
                  "right" if text_right.count("**") > text_left.count("**") else "tie")
        cast(store, "alice", Matchup("chat", f"p{k}", "q", left, right, text_left, text_right), winner)
    summary = summarise(store, rounds=200, judge=NO_JUDGE)
    (bold_coefficient,) = [c for c in summary.style.coefficients if c.feature == "bold"]
    assert bold_coefficient.ci_low > 0
    plain = {r.model: r.rating for r in summary.bradley_terry}
    styled = {r.model: r for r in summary.style.ratings}
    assert plain["sft"] - plain["base"] > 150
    assert styled["sft"].ci_low < 1000 < styled["sft"].ci_high  # no better once bold is accounted for
    assert {r.n_battles for r in summary.style.ratings} == {40}
    assert summarise(store, rounds=0, judge=NO_JUDGE, style=False).style is None


def test_style_needs_the_voted_answers_and_says_which_is_missing(store):
    vote(store, "alice", "p1", "sft", "base", "left")  # cast on texts that were never stored
    summary = summarise(store, rounds=0, judge=NO_JUDGE)
    assert summary.style is None and summary.bradley_terry
    assert "1 of 1 votes have an answer missing" in summary.style_note and "model 'sft'" in summary.style_note
