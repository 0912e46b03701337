"""The ratings table: a model with too few votes gets no rating, interval or rank."""

from evalkit.store.db import Store
from evalkit.vote import rows
from evalkit.vote.analysis import summarise
from evalkit.vote.sources import JudgeData
from evalkit.vote.votes import Matchup, cast

NO_JUDGE = JudgeData((), "no LLM-judge verdicts in the store yet")


def vote(store, prompt_id, left, right, winner):
    cast(store, "alice", Matchup("chat", prompt_id, "q", left, right, "x", "y"), winner)


def test_two_votes_say_too_few_votes_instead_of_an_interval(tmp_path):
    store = Store(tmp_path / "s.db")
    vote(store, "p0", "sft", "base", "left")
    vote(store, "p1", "base", "sft", "tie")
    summary = summarise(store, rounds=50, judge=NO_JUDGE)
    header, body = rows.ratings_table(summary)
    for row in body:
        assert row[0] == "–" and row[3] == "–"
        assert row[2] == row[4] == "too few votes (2 of 10)"
    # nothing is shown, so no note may say how what is shown was fitted
    assert not any("Shown with prior" in note for note in summary.notes), summary.notes


def test_a_one_sided_handful_says_no_rating_is_shown_yet(tmp_path):
    store = Store(tmp_path / "s.db")
    for i in range(3):
        vote(store, f"p{i}", "sft", "base", "left")  # sft never lost: no finite fit without a prior
    summary = summarise(store, rounds=50, judge=NO_JUDGE)
    assert all(row[2] == "too few votes (3 of 10)" for row in rows.ratings_table(summary)[1])
    assert not any("Shown with prior" in note for note in summary.notes), summary.notes
    assert any("no rating is shown until a model has 10 votes" in note for note in summary.notes), summary.notes


def test_enough_votes_get_intervals_and_ranks(tmp_path):
    store = Store(tmp_path / "s.db")
    for i in range(12):
        vote(store, f"p{i}", "sft", "base", "left" if i % 3 else "right")
    summary = summarise(store, rounds=50, judge=NO_JUDGE)
    _, body = rows.ratings_table(summary)
    assert [row[0] for row in body] == ["1", "1"]  # intervals overlap on 12 votes: one rank
    assert all("[" in row[2] and "[" in row[4] for row in body)
    assert "fewer than 10 votes" in rows.counts_line(summary)
    overlap = "models whose 95% intervals overlap share a rank, however far apart their ratings"
    assert overlap in rows.counts_line(summary)


def test_a_chosen_prior_is_used_and_said(tmp_path):
    store = Store(tmp_path / "s.db")
    for i in range(10):
        vote(store, f"p{i}", "sft", "base", "left")
    plain = summarise(store, rounds=0, judge=NO_JUDGE)
    assert any("never lost" in note and "--prior 1" in note for note in plain.notes)
    chosen = summarise(store, rounds=0, judge=NO_JUDGE, prior=2.0)
    assert any("prior=2" in note for note in chosen.notes) and not any("never lost" in n for n in chosen.notes)
    gap = lambda s: s.bradley_terry[0].rating - s.bradley_terry[1].rating
    assert 0 < gap(chosen) < gap(plain)
