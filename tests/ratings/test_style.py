"""Style-controlled Bradley–Terry: Arena's counting, Arena's fit (checked against scikit-learn on the
design Arena builds), and synthetic battles with a known style effect that the plain ratings absorb
and the controlled ones remove."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from evalkit.ratings import (
    BattleArrays,
    BattleError,
    fit_bradley_terry,
    pair_counts,
    rate,
    rate_with_style,
    style_counts,
)
from evalkit.ratings.bt import POINTS_PER_NAT
from evalkit.ratings.style import fit_style_bradley_terry

A_WINS, B_WINS, TIE = 0, 1, 2


def arena_counts(text: str) -> list[int]:
    """FastChat's add_markdown_info.py counters, written out here as Arena runs them (the inner text of
    each fenced block removed first), with length in characters."""
    prose = text
    for block in re.findall("```([^`]*)```", text):
        prose = prose.replace(block, "")
    headers = sum(len(re.findall(rf"^#{{{k}}}\s", prose, re.MULTILINE)) for k in range(1, 7))
    lists = len(re.findall(r"^\s*\d+\.\s", prose, re.MULTILINE)) + len(re.findall(r"^\s*[-*+]\s", prose, re.MULTILINE))
    bold = len(re.findall(r"\*\*[^*\n]+\*\*", prose)) + len(re.findall(r"__[^_\n]+__", prose))
    return [len(text), headers, lists, bold]


def markdown_answer(rng: random.Random, words: int, headers: int, items: int, bold: int) -> str:
    parts = [f"{'#' * rng.randint(1, 3)} Section {h}" for h in range(headers)]
    parts += [" ".join("word" for _ in range(words))]
    parts += [f"{k + 1}. item" if rng.random() < 0.5 else f"- item {k}" for k in range(items)]
    parts += [f"a **strong point {k}** here" for k in range(bold)]
    rng.shuffle(parts)
    return "\n".join(parts)


def test_counts_follow_arena_and_skip_code_blocks():
    text = ("# Title\n\nSome **bold** and __also__ text.\n\n## Part\n1. one\n2. two\n- x\n* y\n+ z\n"
            "```\n# not a header\n- not a list\n**not bold**\n```\n#nospace\n**un\nclosed**\n")
    assert style_counts(text) == (len(text), 2, 5, 2)
    assert list(style_counts(text)) == arena_counts(text)


def random_battles(seed: int, n: int, models=("m0", "m1", "m2", "m3")):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.sample(range(len(models)), 2)
        texts = [markdown_answer(rng, rng.randint(5, 80), rng.randint(0, 3), rng.randint(0, 5), rng.randint(0, 3))
                 for _ in (a, b)]
        outcome = rng.choices((A_WINS, B_WINS, TIE), weights=(0.45 + 0.1 * (a - b), 0.45 - 0.1 * (a - b), 0.1))[0]
        rows.append((a, b, outcome, *texts))
    return models, rows


def arrays_of(models, rows) -> tuple[BattleArrays, list[str], list[str]]:
    a, b, outcome, text_a, text_b = zip(*rows)
    return BattleArrays.from_indices(models, np.array(a), np.array(b), np.array(outcome)), list(text_a), list(text_b)


def arena_style_control(models, rows) -> tuple[np.ndarray, np.ndarray]:
    """Arena's published computation (FastChat elo_analysis.py, August 2024): every battle entered twice,
    a tie as one win each way; model columns +-ln 10; features (a-b)/(a+b+1) standardised by their mean and
    standard deviation; sklearn LogisticRegression without intercept, default C=1. Ratings 400 * coef + 1000."""
    counts_a = np.array([arena_counts(r[3]) for r in rows], dtype=float)
    counts_b = np.array([arena_counts(r[4]) for r in rows], dtype=float)
    diff = (counts_a - counts_b) / (counts_a + counts_b + 1)
    features = (diff - diff.mean(axis=0)) / diff.std(axis=0)
    n, m = len(rows), len(models)
    x = np.zeros((2 * n, m + 4))
    for k, (a, b, *_rest) in enumerate(rows + rows):
        x[k, a], x[k, b] = math.log(10), -math.log(10)
    x[:, m:] = np.concatenate([features, features])
    outcome = np.array([r[2] for r in rows])
    y = np.concatenate([outcome == A_WINS, (outcome == A_WINS) | (outcome == TIE)]).astype(float)
    fit = LogisticRegression(fit_intercept=False, C=1.0, tol=1e-12, max_iter=100_000).fit(x, y)
    return 400 * fit.coef_[0][:m] + 1000, fit.coef_[0][m:]


def test_matches_arenas_method_on_battles_played_in_both_orders():
    # Played both ways round, each feature's mean is exactly 0, where Arena's standardisation and ours agree.
    models, rows = random_battles(seed=11, n=40)
    rows = rows + [(b, a, {A_WINS: B_WINS, B_WINS: A_WINS}.get(o, o), tb, ta) for a, b, o, ta, tb in rows]
    expected_ratings, expected_coefficients = arena_style_control(models, rows)
    arrays, text_a, text_b = arrays_of(models, rows)
    found = rate_with_style(arrays, text_a, text_b, bootstrap_rounds=0)
    by_model = {r.model: r.rating for r in found.ratings}
    assert [by_model[m] for m in models] == pytest.approx(expected_ratings.tolist(), abs=0.01)
    assert [c.value for c in found.coefficients] == pytest.approx(expected_coefficients.tolist(), abs=1e-5)
    assert [c.feature for c in found.coefficients] == ["length", "headers", "lists", "bold"]


def test_the_fit_is_arenas_logistic_regression_whatever_the_sides():
    # Sides as they come (not mirrored): same design and penalty as Arena's, with our root-mean-square
    # scale in place of the mean/sd standardisation.
    models, rows = random_battles(seed=5, n=120)
    counts_a = np.array([arena_counts(r[3]) for r in rows], dtype=float)
    counts_b = np.array([arena_counts(r[4]) for r in rows], dtype=float)
    diff = (counts_a - counts_b) / (counts_a + counts_b + 1)
    features = diff / np.sqrt((diff**2).mean(axis=0))
    n, m = len(rows), len(models)
    x = np.zeros((2 * n, m + 4))
    for k, (a, b, *_rest) in enumerate(rows + rows):
        x[k, a], x[k, b] = math.log(10), -math.log(10)
    x[:, m:] = np.concatenate([features, features])
    outcome = np.array([r[2] for r in rows])
    y = np.concatenate([outcome == A_WINS, (outcome == A_WINS) | (outcome == TIE)]).astype(float)
    fit = LogisticRegression(fit_intercept=False, tol=1e-12, max_iter=100_000).fit(x, y)
    arrays, text_a, text_b = arrays_of(models, rows)
    found = rate_with_style(arrays, text_a, text_b, bootstrap_rounds=0)
    by_model = {r.model: r.rating for r in found.ratings}
    assert [by_model[m] for m in models] == pytest.approx((400 * fit.coef_[0][:m] + 1000).tolist(), abs=0.01)
    assert [c.value for c in found.coefficients] == pytest.approx(fit.coef_[0][m:].tolist(), abs=1e-5)


def test_swapping_every_battles_sides_changes_nothing():
    models, rows = random_battles(seed=8, n=80)
    swapped = [(b, a, {A_WINS: B_WINS, B_WINS: A_WINS}.get(o, o), tb, ta) for a, b, o, ta, tb in rows]
    first = rate_with_style(*arrays_of(models, rows), bootstrap_rounds=50, seed=1)
    second = rate_with_style(*arrays_of(models, swapped), bootstrap_rounds=0)
    assert [r.rating for r in first.ratings] == pytest.approx([r.rating for r in second.ratings], abs=1e-6)
    assert [c.value for c in first.coefficients] == pytest.approx([c.value for c in second.coefficients], abs=1e-8)


# A known style effect: "verbose" is no better than "good" (worse, in truth), but writes three times as
# much, and the voters reward length.
TRUE_STRENGTH = {"good": 0.3, "verbose": 0.0, "terse": -0.3}
MEAN_WORDS = {"good": 60, "verbose": 180, "terse": 60}
TRUE_LENGTH_COEFFICIENT = 1.0


def length_biased_battles(seed: int, n: int):
    rng = np.random.default_rng(seed)
    models = tuple(TRUE_STRENGTH)
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    mean = np.array([MEAN_WORDS[m] for m in models])
    words_a = np.maximum(1, rng.lognormal(np.log(mean[a]), 0.4)).astype(int)
    words_b = np.maximum(1, rng.lognormal(np.log(mean[b]), 0.4)).astype(int)
    text_a, text_b = ["word " * w for w in words_a], ["word " * w for w in words_b]
    length_a = np.array([len(t) for t in text_a], dtype=float)
    length_b = np.array([len(t) for t in text_b], dtype=float)
    diff = (length_a - length_b) / (length_a + length_b + 1)
    feature = diff / np.sqrt((diff**2).mean())
    strength = np.array([TRUE_STRENGTH[m] for m in models])
    p_a = 1 / (1 + np.exp(-(strength[a] - strength[b] + TRUE_LENGTH_COEFFICIENT * feature)))
    outcome = np.where(rng.random(n) < p_a, A_WINS, B_WINS)
    return BattleArrays.from_indices(models, a, b, outcome), text_a, text_b


def test_a_known_length_effect_is_recovered_and_the_plain_ratings_are_biased():
    arrays, text_a, text_b = length_biased_battles(seed=3, n=6000)
    truth = {m: 1000 + POINTS_PER_NAT * (s - np.mean(list(TRUE_STRENGTH.values()))) for m, s in TRUE_STRENGTH.items()}
    style = rate_with_style(arrays, text_a, text_b, bootstrap_rounds=200, seed=0)
    plain = {r.model: r for r in rate(arrays, bootstrap_rounds=200, seed=0)}

    (length,) = [c for c in style.coefficients if c.feature == "length"]
    assert length.value == pytest.approx(TRUE_LENGTH_COEFFICIENT, abs=0.1)
    assert length.ci_low < TRUE_LENGTH_COEFFICIENT < length.ci_high
    assert style.constant == ("headers", "lists", "bold") and style.entangled == ()
    for r in style.ratings:
        assert r.rating == pytest.approx(truth[r.model], abs=20), r
        assert r.ci_low < truth[r.model] < r.ci_high, r
    assert [r.model for r in style.ratings] == ["good", "verbose", "terse"]
    # The plain fit credits verbose with its length: above good, and far above its true strength.
    assert plain["verbose"].rating > plain["good"].rating
    assert plain["verbose"].ci_low > truth["verbose"] + 50


def test_without_covariates_or_penalty_it_is_the_plain_fit():
    arrays, _, _ = length_biased_battles(seed=4, n=500)
    theta = fit_style_bradley_terry(arrays, np.zeros((len(arrays), 0)), np.ones((1, len(arrays))), ridge=0.0)[0]
    points = 1000 + POINTS_PER_NAT * (theta - theta.mean())
    assert points == pytest.approx(fit_bradley_terry(pair_counts(arrays)), abs=1e-6)


def test_the_bootstrap_is_seeded():
    models, rows = random_battles(seed=2, n=60)
    once = rate_with_style(*arrays_of(models, rows), bootstrap_rounds=40, seed=9)
    again = rate_with_style(*arrays_of(models, rows), bootstrap_rounds=40, seed=9)
    other = rate_with_style(*arrays_of(models, rows), bootstrap_rounds=40, seed=10)
    assert once == again
    assert [r.ci_low for r in once.ratings] != [r.ci_low for r in other.ratings]
    for r in once.ratings:
        assert r.ci_low <= r.rating <= r.ci_high


def test_a_style_fixed_by_the_pair_is_flagged():
    # Each model always writes the same length: length and identity cannot be told apart.
    models = ("x", "y", "z")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 90)
    b = (a + rng.integers(1, 3, 90)) % 3
    words = {0: 10, 1: 30, 2: 90}
    arrays = BattleArrays.from_indices(models, a, b, rng.integers(0, 3, 90))
    style = rate_with_style(arrays, ["w " * words[i] for i in a], ["w " * words[i] for i in b], bootstrap_rounds=0)
    assert style.entangled == ("length",)


def test_bad_arguments_name_the_problem():
    models, rows = random_battles(seed=1, n=10)
    arrays, text_a, text_b = arrays_of(models, rows)
    with pytest.raises(BattleError, match="10 battles, 9 answers of model_a"):
        rate_with_style(arrays, text_a[:9], text_b)
    with pytest.raises(BattleError, match="ridge must be a finite number > 0"):
        rate_with_style(arrays, text_a, text_b, ridge=0.0)
