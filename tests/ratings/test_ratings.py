"""Ratings checked against hand computation, Chatbot Arena's scikit-learn
Bradley–Terry fit, explicit per-battle resampling and scikit-learn's kappa."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from evalkit.ratings import (
    Agreement,
    Battle,
    BattleArrays,
    BattleError,
    NoFiniteRatingsError,
    agreement,
    bradley_terry,
    cohen_kappa,
    compute_online_elo,
    encode_battles,
    inter_annotator_agreement,
    interval_ranks,
    judge_human_agreement,
    pair_counts,
    pair_win_rate,
    rate,
    win_rate,
    win_rate_matrix,
)
from evalkit.ratings.bt import bootstrap_bradley_terry, fit_bradley_terry
from evalkit.ratings.elo import bootstrap_online_elo


def synthetic_battles(n: int, strengths: dict[str, float], seed: int, tie_share: float = 0.2):
    """Votes drawn from a BT model with the given natural-scale strengths."""
    rng = np.random.default_rng(seed)
    names = list(strengths)
    battles = []
    for _ in range(n):
        i, j = rng.choice(len(names), size=2, replace=False)
        a, b = names[i], names[j]
        u = rng.random()
        if u < tie_share:
            winner = "tie" if u < tie_share / 2 else "both_bad"
        else:
            p_a = 1 / (1 + math.exp(strengths[b] - strengths[a]))
            winner = "a" if rng.random() < p_a else "b"
        battles.append(Battle(a, b, winner))
    return battles


def arena_mle_reference(battles, scale=400, base=10, init_rating=1000) -> dict[str, float]:
    """compute_mle_elo from Chatbot Arena's notebook: every battle twice in a
    per-battle design matrix, a tie as one A win plus one B win, unpenalised
    logistic regression without intercept. (C=inf is scikit-learn 1.8's
    spelling of the notebook's penalty=None.)"""
    from sklearn.linear_model import LogisticRegression

    models = sorted({m for b in battles for m in (b.model_a, b.model_b)})
    column = {m: i for i, m in enumerate(models)}
    doubled = list(battles) + list(battles)
    n = len(doubled)
    x = np.zeros((n, len(models)))
    x[np.arange(n), [column[b.model_a] for b in doubled]] = +1.0
    x[np.arange(n), [column[b.model_b] for b in doubled]] = -1.0
    y = np.array([b.winner == "a" for b in doubled], dtype=float)
    tie = np.array([b.winner in ("tie", "both_bad") for b in doubled])
    tie[n // 2 :] = False  # the first copy of a tie is A's win, the second B's
    y[tie] = 1.0
    with warnings.catch_warnings():
        # scikit-learn 1.8 warns that C=inf "ignores C": that is the point.
        warnings.simplefilter("ignore", UserWarning)
        fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6).fit(x, y)
    ratings = scale / math.log(base) * fit.coef_[0] + init_rating
    return dict(zip(models, ratings))


# --- online Elo, by hand -----------------------------------------------------


def test_online_elo_first_win_moves_both_by_half_k():
    # Equal ratings expect 0.5 each: the winner gains K * (1 - 0.5) = 2.
    assert compute_online_elo([Battle("x", "y", "a")]) == {"x": 1002.0, "y": 998.0}
    assert compute_online_elo([Battle("x", "y", "b")]) == {"x": 998.0, "y": 1002.0}


def test_online_elo_tie_between_equals_changes_nothing():
    for winner in ("tie", "both_bad"):
        assert compute_online_elo([Battle("x", "y", winner)]) == {"x": 1000.0, "y": 1000.0}


def test_online_elo_follows_battle_order():
    battles = [Battle("x", "y", "a"), Battle("y", "x", "a"), Battle("x", "z", "tie")]
    # After battle 1: x 1002, y 998. Battle 2, y (998) beats x (1002):
    e_y = 1 / (1 + 10 ** ((1002 - 998) / 400))
    y2, x2 = 998 + 4 * (1 - e_y), 1002 - 4 * (1 - e_y)
    # Battle 3, x ties z (1000): x scores 0.5.
    e_x = 1 / (1 + 10 ** ((1000 - x2) / 400))
    x3, z3 = x2 + 4 * (0.5 - e_x), 1000 - 4 * (0.5 - e_x)
    got = compute_online_elo(battles)
    assert got == pytest.approx({"x": x3, "y": y2, "z": z3}, abs=1e-9)
    assert got["y"] > got["x"]  # the later win counts more than the earlier one
    assert compute_online_elo(battles[1::-1])["x"] > compute_online_elo(battles[1::-1])["y"]


def test_online_elo_keeps_mean_at_init():
    battles = synthetic_battles(500, {"a": 0.0, "b": 1.0, "c": -1.0}, seed=3)
    assert np.mean(list(compute_online_elo(battles).values())) == pytest.approx(1000.0)


# --- Bradley–Terry against the Arena reference ---------------------------------


@pytest.mark.parametrize(
    "n, strengths, seed",
    [
        (2000, {"base": 0.0, "sft": 0.5, "dpo": 0.8}, 0),
        (3000, {f"m{i}": s for i, s in enumerate([1.2, 0.4, 0.0, -0.3, -1.1, 0.6])}, 1),
        (400, {"p": 0.0, "q": 2.0, "r": -0.5, "s": 0.1}, 2),
    ],
)
def test_bradley_terry_equals_sklearn_reference(n, strengths, seed):
    battles = synthetic_battles(n, strengths, seed, tie_share=0.25)
    reference = arena_mle_reference(battles)
    ours = bradley_terry(battles)
    assert ours.keys() == reference.keys()
    for model in reference:
        assert ours[model] == pytest.approx(reference[model], abs=0.01), model


def test_bradley_terry_mean_and_anchor():
    battles = synthetic_battles(1500, {"base": 0.0, "sft": 0.5, "dpo": 1.0}, seed=4)
    centred = bradley_terry(battles)
    anchored = bradley_terry(battles, anchor="base")
    assert np.mean(list(centred.values())) == pytest.approx(1000.0)
    assert anchored["base"] == pytest.approx(1000.0, abs=1e-9)
    shift = centred["base"] - 1000.0
    for model in centred:
        assert anchored[model] == pytest.approx(centred[model] - shift, abs=1e-9)


def test_bradley_terry_ignores_positions_and_order():
    battles = synthetic_battles(600, {"x": 0.3, "y": 0.0, "z": -0.4}, seed=5)
    flipped = [Battle(b.model_b, b.model_a, {"a": "b", "b": "a"}.get(b.winner, b.winner)) for b in battles]
    assert bradley_terry(flipped[::-1]) == pytest.approx(bradley_terry(battles), abs=1e-9)


def test_separated_votes_name_the_groups_and_prior_fixes_them():
    battles = [Battle("dpo", "base", "a")] * 5 + [Battle("sft", "base", "a"), Battle("dpo", "sft", "tie")]
    with pytest.raises(NoFiniteRatingsError, match=r"\['base'\].*prior=1.0"):
        bradley_terry(battles)
    ratings = bradley_terry(battles, prior=1.0)
    assert ratings["dpo"] > ratings["sft"] > ratings["base"]


# --- bootstrap -------------------------------------------------------------------


def test_bootstrap_intervals_contain_estimate_and_shrink_with_data():
    strengths = {"base": 0.0, "sft": 0.4, "dpo": 0.7, "other": -0.3}
    few = rate(synthetic_battles(400, strengths, seed=6), bootstrap_rounds=300)
    many = rate(synthetic_battles(6400, strengths, seed=7), bootstrap_rounds=300)
    for r in few + many:
        assert r.ci_low <= r.median <= r.ci_high
        assert r.ci_low < r.rating < r.ci_high
    width = lambda ratings: np.mean([r.ci_high - r.ci_low for r in ratings])  # noqa: E731
    # 16x the votes: about a quarter of the width (1 / sqrt(16)).
    assert 0.15 < width(many) / width(few) < 0.4


def test_bootstrap_on_counts_matches_resampling_battles():
    battles = synthetic_battles(800, {"x": 0.5, "y": 0.0, "z": -0.5}, seed=8)
    counts = pair_counts(battles)
    ours = bootstrap_bradley_terry(counts, rounds=400, seed=1)
    rng = np.random.default_rng(2)
    resampled = [
        fit_bradley_terry(pair_counts([battles[k] for k in rng.integers(0, len(battles), len(battles))]))
        for _ in range(400)
    ]
    low, high = np.percentile(resampled, [2.5, 97.5], axis=0)
    assert ours.high - ours.low == pytest.approx(high - low, rel=0.2)
    assert (ours.low + ours.high) / 2 == pytest.approx((low + high) / 2, abs=8.0)


def test_bootstrap_is_seeded():
    battles = synthetic_battles(300, {"x": 0.2, "y": 0.0, "z": -0.2}, seed=9)
    assert rate(battles, bootstrap_rounds=50, seed=1) == rate(battles, bootstrap_rounds=50, seed=1)
    assert rate(battles, bootstrap_rounds=50, seed=1) != rate(battles, bootstrap_rounds=50, seed=2)


def test_anchored_model_has_zero_width_interval():
    battles = synthetic_battles(500, {"base": 0.0, "sft": 0.6}, seed=10)
    for method in ("bt", "elo"):
        by_model = {r.model: r for r in rate(battles, method=method, bootstrap_rounds=50, anchor="base")}
        assert by_model["base"].ci_low == pytest.approx(1000.0) == by_model["base"].ci_high
        assert by_model["sft"].ci_high > by_model["sft"].ci_low


def test_degenerate_resamples_warn_and_stay_finite():
    battles = [Battle("x", "y", "a")] * 6 + [Battle("y", "x", "a")] + [Battle("y", "z", "a")] * 6
    battles += [Battle("z", "y", "a"), Battle("x", "z", "tie")]
    with pytest.warns(RuntimeWarning, match="never lost or never won"):
        result = bootstrap_bradley_terry(pair_counts(battles), rounds=200, seed=0)
    assert 0 < result.degenerate_rounds < 200
    assert np.isfinite(result.low).all() and np.isfinite(result.high).all()


def test_elo_bootstrap_replays_arena_resampling():
    """Each round is online Elo over len(battles) battles drawn with
    replacement; rebuild the same draws and replay them one round at a time.
    (300 battles fit in one block of draws, so one (battles, rounds) draw
    reproduces them.)"""
    battles = synthetic_battles(300, {"x": 0.4, "y": 0.0, "z": -0.4}, seed=11)
    rounds, seed = 40, 3
    result = bootstrap_online_elo(encode_battles(battles), rounds, seed)
    picks = np.random.default_rng(seed).integers(0, len(battles), size=(len(battles), rounds))
    replays = [compute_online_elo([battles[k] for k in picks[:, r]]) for r in range(rounds)]
    table = np.array([[replay.get(m, 1000.0) for m in result.models] for replay in replays])
    low, median, high = np.percentile(table, [2.5, 50, 97.5], axis=0)
    np.testing.assert_allclose(result.low, low, atol=1e-8)
    np.testing.assert_allclose(result.median, median, atol=1e-8)
    np.testing.assert_allclose(result.high, high, atol=1e-8)


# --- rate() and ranks ----------------------------------------------------------------


def test_interval_ranks_only_separate_disjoint_intervals():
    low = np.array([1100.0, 1080.0, 1000.0, 900.0])
    high = np.array([1150.0, 1120.0, 1090.0, 950.0])
    # model 1 overlaps model 0 (1100 < 1120): both rank 1; model 2 is below
    # model 0 only (1100 > 1090, 1080 < 1090); model 3 is below all three.
    assert interval_ranks(low, high).tolist() == [1, 1, 2, 4]


def test_rate_sorts_best_first_with_counts_and_ranks():
    battles = synthetic_battles(3000, {"base": -1.0, "sft": 0.0, "dpo": 0.05, "big": 1.0}, seed=12)
    ratings = rate(battles, bootstrap_rounds=200)
    assert [r.model for r in ratings][0] == "big" and ratings[-1].model == "base"
    assert [r.rating for r in ratings] == sorted((r.rating for r in ratings), reverse=True)
    per_model = {m: sum(m in (b.model_a, b.model_b) for b in battles) for m in ("base", "sft", "dpo", "big")}
    assert {r.model: r.n_battles for r in ratings} == per_model
    ranks = {r.model: r.rank for r in ratings}
    assert ranks["big"] == 1 and ranks["sft"] == ranks["dpo"] == 2 and ranks["base"] == 4


def test_rate_accepts_arrays_and_without_bootstrap():
    battles = synthetic_battles(400, {"x": 0.3, "y": 0.0, "z": -0.3}, seed=13)
    arrays = encode_battles(battles)
    assert isinstance(arrays, BattleArrays)
    assert rate(arrays, bootstrap_rounds=30) == rate(battles, bootstrap_rounds=30)
    plain = rate(battles, bootstrap_rounds=0)
    assert all(math.isnan(r.ci_low) and math.isnan(r.median) for r in plain)
    assert [r.rank for r in plain] == [1, 2, 3]


# --- win rates ----------------------------------------------------------------


def test_win_rate_matrix_and_counts():
    battles = [Battle("x", "y", "a")] * 3 + [Battle("y", "x", "a"), Battle("x", "y", "tie"), Battle("y", "z", "b")]
    counts = pair_counts(battles)
    assert counts.between("x", "y") == (3, 1, 1)
    half = win_rate_matrix(counts)
    exclude = win_rate_matrix(counts, ties_mode="exclude")
    x, y, z = (counts.index(m) for m in "xyz")
    assert half[x, y] == pytest.approx(3.5 / 5) and half[y, x] == pytest.approx(1.5 / 5)
    assert exclude[x, y] == pytest.approx(3 / 4)
    assert half[z, y] == 1.0 and math.isnan(half[x, z]) and math.isnan(half[x, x])


def test_wilson_interval_by_hand():
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10), half-width
    # z / (1 + z^2/10) * sqrt(0.8 * 0.2 / 10 + z^2 / 400), z = 1.96.
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.016 + z * z / 400)
    result = win_rate(8, 0, 2)
    assert (result.low, result.high) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert (result.low, result.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # textbook value
    with_ties = pair_win_rate(pair_counts([Battle("x", "y", "tie")] * 2 + [Battle("x", "y", "a")] * 2), "x", "y")
    assert with_ties.rate == pytest.approx(0.75) and with_ties.n == 4


# --- input errors -------------------------------------------------------------


def test_unknown_winner_names_the_value_and_the_choices():
    with pytest.raises(ValueError, match=r"'model_a'.*'a', 'b', 'tie', 'both_bad'"):
        Battle("x", "y", "model_a")


def test_battle_needs_model_names():
    with pytest.raises(BattleError, match="model_b must be a non-empty model name, got ''"):
        Battle("x", "", "a")


def test_battle_against_itself_is_refused():
    with pytest.raises(BattleError, match="'x' against itself"):
        Battle("x", "x", "a")
    with pytest.raises(BattleError, match="against itself"):
        BattleArrays.from_indices(["x", "y"], [0, 1], [1, 1], [0, 0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "glicko"}, "unknown method 'glicko'"),
        ({"anchor": "nope"}, r"unknown model 'nope'.*\['x', 'y'\]"),
        ({"bootstrap_rounds": -1}, "bootstrap_rounds must be >= 0"),
        ({"prior": -1.0}, "prior must be"),
    ],
)
def test_rate_rejects_bad_arguments(kwargs, message):
    battles = [Battle("x", "y", "a"), Battle("x", "y", "b")]
    with pytest.raises(BattleError, match=message):
        rate(battles, bootstrap_rounds=kwargs.pop("bootstrap_rounds", 10), **kwargs)


def test_rate_needs_battles():
    with pytest.raises(BattleError, match="no battles"):
        rate([])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate([Battle("x", "y", "a"), Battle("y", "x", "a")], bootstrap_rounds=0)


# --- agreement ------------------------------------------------------------------


def test_cohen_kappa_textbook_example():
    # 50 items: both yes 20, yes/no 5, no/yes 10, both no 15. Observed 0.7;
    # chance 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa (0.7 - 0.5) / (1 - 0.5) = 0.4.
    rater_1 = ["yes"] * 25 + ["no"] * 25
    rater_2 = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(rater_1, rater_2) == pytest.approx(0.4)


def test_cohen_kappa_equals_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(14)
    labels = np.array(["a", "b", "tie"])
    first = labels[rng.integers(0, 3, 200)]
    second = np.where(rng.random(200) < 0.6, first, labels[rng.integers(0, 3, 200)])
    assert cohen_kappa(list(first), list(second)) == pytest.approx(cohen_kappa_score(first, second))
    assert math.isnan(cohen_kappa(["tie"] * 3, ["tie"] * 3))
    with pytest.raises(BattleError, match="got 2 and 1 labels"):
        cohen_kappa(["a", "b"], ["a"])


def test_agreement_counts_pairs():
    result = agreement([("a", "a"), ("a", "b"), ("b", "b"), ("tie", "b")])
    assert result == Agreement(n=4, raw=0.5, kappa=result.kappa, items=4)
    assert result.kappa == pytest.approx(cohen_kappa(["a", "a", "b", "tie"], ["a", "b", "b", "b"]))


def test_inter_annotator_agreement_matches_items_across_positions():
    votes = [
        ("p1", Battle("sft", "base", "a")),
        ("p1", Battle("base", "sft", "b")),  # same verdict, positions swapped
        ("p1", Battle("sft", "base", "tie")),
        ("p2", Battle("dpo", "sft", "a")),
        ("p2", Battle("dpo", "sft", "b")),
        ("p3", Battle("dpo", "sft", "a")),  # one vote only: no pair
        ("p2", Battle("dpo", "base", "a")),  # other pair of models: other item
    ]
    result = inter_annotator_agreement(votes)
    # p1: 3 votes -> 3 pairs, 1 equal; p2: 1 pair, unequal.
    assert (result.n, result.items, result.raw) == (4, 2, 0.25)
    pairs = [("sft", "sft"), ("sft", "tie"), ("sft", "tie"), ("dpo", "sft")]
    both = pairs + [(y, x) for x, y in pairs]
    assert result.kappa == pytest.approx(cohen_kappa([p[0] for p in both], [p[1] for p in both]))
    without_ties = inter_annotator_agreement(votes, include_ties=False)
    assert (without_ties.n, without_ties.raw) == (2, 0.5)


def test_judge_human_agreement():
    human = [("p1", Battle("sft", "base", "a")), ("p1", Battle("sft", "base", "b")),
             ("p2", Battle("dpo", "sft", "both_bad")), ("p9", Battle("dpo", "sft", "a"))]  # fmt: skip
    judge = [("p1", Battle("base", "sft", "b")), ("p2", Battle("sft", "dpo", "tie")),
             ("p3", Battle("sft", "dpo", "a"))]  # fmt: skip
    result = judge_human_agreement(judge, human)
    # p1: judge says sft, humans sft and base; p2: tie and tie (both_bad).
    assert (result.n, result.items, result.raw) == (3, 2, pytest.approx(2 / 3))
    assert result.kappa == pytest.approx(cohen_kappa(["sft", "sft", "tie"], ["sft", "base", "tie"]))
    with pytest.raises(BattleError, match="no item is rated by both"):
        judge_human_agreement(judge[2:], human)
