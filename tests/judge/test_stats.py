"""The judge's numbers: both-order verdicts, win rates, the length-controlled win rate, position bias."""

import numpy as np
import pytest

from evalkit.judge.stats import (
    battles,
    length_controlled_win_rate,
    pair_stats,
    position_bias,
)
from evalkit.judge.verdicts import JudgedPair, final_verdict, shown_to_verdict


@pytest.mark.parametrize("ab, ba, final", [("a", "a", "a"), ("b", "b", "b"), ("a", "b", "tie"), ("a", "tie", "tie"),
                                           ("tie", "tie", "tie"), (None, "a", None), ("b", None, None)])
def test_a_win_needs_both_orders(ab, ba, final):
    assert final_verdict(ab, ba) == final


@pytest.mark.parametrize("shown, position, verdict", [("A", "ab", "a"), ("B", "ab", "b"), ("A", "ba", "b"),
                                                      ("B", "ba", "a"), ("tie", "ba", "tie"), (None, "ab", None)])
def test_shown_verdicts_map_back_to_models(shown, position, verdict):
    assert shown_to_verdict(shown, position) == verdict


def pair(prompt, final, a="base", b="sft", ab=None, ba=None):
    return JudgedPair("j", "set", prompt, a, b, ab or final, ba or final, final)


def test_pair_stats_counts_from_either_side():
    pairs = [pair("1", "a"), pair("2", "b"), pair("3", "tie"), pair("4", None),
             JudgedPair("j", "set", "5", "sft", "base", "a", "a", "a"), pair("6", "a", b="dpo")]
    stats = pair_stats(pairs, {}, "sft", "base", rounds=50)
    assert (stats.wins, stats.ties, stats.losses, stats.unscored) == (2, 1, 1, 1)
    assert stats.rate.rate == pytest.approx(2.5 / 4)
    reverse = pair_stats(pairs, {}, "base", "sft", rounds=50)
    assert (reverse.wins, reverse.losses) == (1, 2)


def synthetic(n, seed, skill):
    """The model's answers are longer 80% of the time, and the judge likes length:
    P(win) = sigmoid(skill + 3 tanh(diff / sd)). At equal length it wins sigmoid(skill)."""
    rng = np.random.default_rng(seed)
    diffs = np.where(rng.random(n) < 0.8, 1, -1) * rng.uniform(50, 400, n)
    p_win = 1 / (1 + np.exp(-(skill + 3 * np.tanh(diffs / diffs.std()))))
    return (rng.random(n) < p_win).astype(float).tolist(), diffs.tolist()


def test_length_controlled_rate_removes_a_length_preference():
    outcomes, diffs = synthetic(1500, 1, skill=0.0)
    rate, low, high = length_controlled_win_rate(outcomes, diffs, seed=0, rounds=300)
    assert np.mean(outcomes) > 0.68  # the raw win rate rewards length
    assert low < 0.5 < high and rate == pytest.approx(0.5, abs=0.06)


def test_length_controlled_rate_keeps_a_preference_that_is_not_about_length():
    outcomes, diffs = synthetic(1500, 2, skill=1.0)
    rate, low, high = length_controlled_win_rate(outcomes, diffs, seed=0, rounds=300)
    true_rate = 1 / (1 + np.exp(-1.0))
    assert np.mean(outcomes) > 0.78 and rate == pytest.approx(true_rate, abs=0.06) and low < rate < high


def test_length_controlled_rate_is_seeded_and_handles_equal_lengths():
    outcomes, diffs = [1.0, 0.0, 0.5, 1.0, 1.0], [0.0] * 5
    first = length_controlled_win_rate(outcomes, diffs, seed=3, rounds=200)
    assert first == length_controlled_win_rate(outcomes, diffs, seed=3, rounds=200)
    assert first[0] == pytest.approx(0.7, abs=0.05)  # no length signal: close to the raw win rate


def test_position_bias_counts_flips_and_first_position_wins():
    pairs = [pair("1", "tie", ab="a", ba="b"), pair("2", "a"), pair("3", None, ab="a", ba=None)]
    rows = [{"shown": s} for s in ("A", "A", "A", "B", "A", None, "tie")]
    bias = position_bias(rows, pairs)
    assert (bias.both_orders, bias.flips, bias.decisive, bias.first_wins) == (2, 1, 5, 4)
    assert bias.first_rate.rate == pytest.approx(0.8)


def test_battles_use_final_verdicts_and_skip_unscored():
    found = battles([pair("1", "a"), pair("2", None), pair("3", "tie")])
    assert [(b.model_a, b.model_b, b.winner) for b in found] == [("base", "sft", "a"), ("base", "sft", "tie")]
