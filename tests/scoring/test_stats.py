"""Intervals and paired tests, checked against scipy, textbook cases and
seeded synthetic data where the answer is known."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from evalkit.scoring import metrics as scoring
from evalkit.scoring import stats

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("EVALKIT_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def _close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------- intervals --


def test_mean_ci_is_the_normal_interval_with_lm_eval_stderr():
    values = np.random.default_rng(3).normal(0.6, 0.2, size=37)
    estimate = stats.mean_ci(values, confidence=0.9)
    mean = sum(values) / len(values)
    lm_eval_stderr = math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1)) / math.sqrt(len(values))
    assert _close(estimate.stderr, lm_eval_stderr)
    assert _close(estimate.stderr, scipy_stats.sem(values))
    low, high = scipy_stats.norm.interval(0.9, loc=mean, scale=lm_eval_stderr)
    assert (estimate.value, estimate.n) == (pytest.approx(mean), 37)
    assert _close(estimate.ci_low, low) and _close(estimate.ci_high, high)


def test_mean_ci_edge_cases():
    single = stats.mean_ci([1.0])
    assert single.value == 1.0 and math.isnan(single.stderr) and math.isnan(single.ci_low)
    with pytest.raises(ValueError, match="empty"):
        stats.mean_ci([])
    with pytest.raises(ValueError, match="non-finite value at index 2"):
        stats.mean_ci([1.0, 0.0, float("nan")])
    with pytest.raises(ValueError, match="confidence must be in"):
        stats.mean_ci([1.0, 0.0], confidence=95)


def test_wilson_ci_at_none_and_all_is_exactly_the_end_of_the_scale():
    """0 of 10 has its lower bound at 0, not at the float residue 2.8e-17 that a table then prints."""
    for n in range(1, 200):
        assert stats.wilson_ci(0, n).ci_low == 0.0 and stats.wilson_ci(n, n).ci_high == 1.0
    assert stats.wilson_ci(n, n).ci_low > 0.9 and stats.wilson_ci(0, n).ci_high < 0.1


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (10, 10), (412, 1000)])
def test_wilson_ci_equals_scipy(successes, n):
    estimate = stats.wilson_ci(successes, n)
    expected = scipy_stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
    assert _close(estimate.ci_low, expected.low) and _close(estimate.ci_high, expected.high)
    assert estimate.value == successes / n
    binary = [1.0] * successes + [0.0] * (n - successes)
    assert _close(estimate.stderr, stats.mean_ci(binary).stderr)


def test_bootstrap_ci_equals_scipy_percentile_bootstrap(monkeypatch):
    values = np.random.default_rng(1).exponential(size=60)
    expected = scipy_stats.bootstrap(
        (values,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(7)
    )
    estimate = stats.bootstrap_ci(values, rounds=2000, seed=7)
    assert _close(estimate.ci_low, expected.confidence_interval.low)
    assert _close(estimate.ci_high, expected.confidence_interval.high)
    assert _close(estimate.stderr, expected.standard_error)
    assert _close(estimate.value, values.mean())
    # Drawing indices in small chunks must not change the result.
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 7 * 60 + 13)
    assert stats.bootstrap_ci(values, rounds=2000, seed=7) == estimate


def test_bootstrap_ci_with_a_per_round_statistic_equals_scipy():
    values = np.random.default_rng(2).normal(size=41)
    expected = scipy_stats.bootstrap(
        (values,), np.median, n_resamples=500, method="percentile", rng=np.random.default_rng(0)
    )
    estimate = stats.bootstrap_ci(values, np.median, rounds=500, seed=0)
    assert _close(estimate.ci_low, expected.confidence_interval.low)
    assert _close(estimate.ci_high, expected.confidence_interval.high)
    assert estimate.value == np.median(values)


def test_bootstrap_is_seeded_and_local():
    values = np.random.default_rng(5).random(30)
    np.random.seed(123)
    first = stats.bootstrap_ci(values, seed=11)
    np.random.seed(456)  # the global RNG must not matter
    assert stats.bootstrap_ci(values, seed=11) == first
    assert stats.bootstrap_ci(values, seed=12) != first


def test_bootstrap_of_corpus_bleu_over_documents():
    rng = np.random.default_rng(0)
    vocabulary = "the a cat dog sat ran on under mat log quickly slowly".split()
    references = [" ".join(rng.choice(vocabulary, size=12)) for _ in range(40)]
    predictions = [" ".join(w if rng.random() > 0.3 else "x" for w in ref.split()) for ref in references]
    table, corpus_score = scoring.corpus_statistics("bleu", predictions, references)
    estimate = stats.bootstrap_ci(table, corpus_score, rounds=300, seed=0)
    assert estimate.value == scoring.corpus_bleu(predictions, references)
    assert estimate.ci_low < estimate.value < estimate.ci_high
    assert estimate.stderr > 0 and estimate.n == 40


# ------------------------------------------------------ paired comparison --


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(2024)
    difficulty = rng.normal(size=400)  # shared per-item difficulty: pairing matters
    base = difficulty + rng.normal(scale=0.5, size=400)
    better = difficulty + 0.15 + rng.normal(scale=0.5, size=400)
    same = difficulty + rng.normal(scale=0.5, size=400)

    real = stats.paired_bootstrap(better, base, rounds=2000, seed=0)
    assert real.p_value < 0.01 and real.ci_low > 0
    assert _close(real.diff, float(np.mean(better - base))) and real.n == 400
    null = stats.paired_bootstrap(same, base, rounds=2000, seed=0)
    assert null.p_value > 0.05 and null.ci_low < 0 < null.ci_high


def test_paired_bootstrap_interval_and_p_value_definitions():
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.2, 1, 80), rng.normal(0, 1, 80)
    result = stats.paired_bootstrap(a, b, rounds=1000, seed=4)
    item_diffs = scipy_stats.bootstrap(
        (a - b,), np.mean, n_resamples=1000, method="percentile", rng=np.random.default_rng(4)
    )
    assert _close(result.ci_low, item_diffs.confidence_interval.low)
    # the per-round statistic path resamples the same items
    generic = stats.paired_bootstrap(a, b, rounds=1000, seed=4, statistic=np.mean)
    assert _close(generic.ci_low, result.ci_low) and _close(generic.ci_high, result.ci_high)
    assert generic.p_value == result.p_value
    # p: twice the share of resampled differences on the other side of 0 from
    # the observed one (here negative), at least 1/rounds
    rounds_seen = stats._bootstrap_distribution(a - b, stats._mean_over_items, 1000, 4, True)
    assert result.diff < 0 and 0.05 < result.p_value < 1
    assert result.p_value == 2 * float(np.mean(rounds_seen >= 0))
    swapped = stats.paired_bootstrap(b, a, rounds=1000, seed=4)
    assert swapped.diff == -result.diff and swapped.p_value == result.p_value
    clear = stats.paired_bootstrap(a + 10, b, rounds=1000, seed=4)
    assert clear.p_value == 1 / 1000


def test_mcnemar_textbook_example():
    # Agresti, Categorical Data Analysis, Table 10.1: presidential approval of
    # 1,600 people in two surveys; 150 approve then not, 86 not then approve.
    first = [1] * 794 + [1] * 150 + [0] * 86 + [0] * 570
    second = [1] * 794 + [0] * 150 + [1] * 86 + [0] * 570
    result = stats.mcnemar(first, second)
    assert result.diff == pytest.approx(0.04) and result.n == 1600
    assert result.ci_low == pytest.approx(0.0213, abs=5e-4)  # Agresti: (0.021, 0.059)
    assert result.ci_high == pytest.approx(0.0587, abs=5e-4)
    tail = sum(Fraction(math.comb(236, k), 2**236) for k in range(150, 237))
    assert result.p_value == pytest.approx(float(2 * tail), rel=1e-9)
    assert result.method == "mcnemar exact"


def test_mcnemar_small_case_by_hand_and_no_discordant_pairs():
    a = [1, 0, 0, 0, 0, 0, 0, 1, 1]
    b = [0, 1, 1, 1, 1, 1, 1, 1, 0]  # a alone right twice, b alone right six times
    result = stats.mcnemar(a, b)
    assert result.p_value == pytest.approx(2 * (1 + 8 + 28) / 256)  # 2 * P(X <= 2), X ~ Bin(8, .5)
    assert result.diff == pytest.approx(-4 / 9)
    same = stats.mcnemar([1, 0, 1], [1, 0, 1])
    assert (same.diff, same.p_value, same.ci_low, same.ci_high) == (0.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="0/1 scores"):
        stats.mcnemar([0.5, 1.0], [1.0, 0.0])


def test_compare_chooses_the_test_by_score_type():
    assert stats.compare([1, 0, 1, 1], [0, 0, 1, 1]).method == "mcnemar exact"
    assert stats.compare([0.3, 0.9, 0.1], [0.2, 0.8, 0.4]).method == "paired bootstrap"


@pytest.mark.parametrize("function", [stats.compare, stats.paired_bootstrap, stats.mcnemar])
def test_paired_tests_refuse_different_items(function):
    with pytest.raises(ValueError, match="model a has 3 scores, model b has 2"):
        function([1, 0, 1], [1, 0])


# ------------------------------------------------------------ perplexity --


def test_word_and_byte_counts_as_lm_eval_defines_them():
    assert stats.count_words("The cat  sat") == 3
    assert stats.count_words(" = Valkyria = \n") == 5  # leading/trailing "" count, as lm-eval
    assert stats.count_bytes("naïve") == 6


def test_perplexities_by_hand():
    lls, tokens, words, bytes_ = [-10.0, -20.0], [5, 10], [3, 7], [20, 40]
    result = stats.perplexities(lls, tokens, words, bytes_)
    assert result["token_perplexity"] == pytest.approx(math.exp(30 / 15))
    assert result["word_perplexity"] == pytest.approx(math.exp(3.0))
    assert result["byte_perplexity"] == pytest.approx(math.exp(0.5))
    assert result["bits_per_byte"] == pytest.approx(0.5 / math.log(2))
    with pytest.raises(ValueError, match=r"differ in length: \[2, 2, 1, 2\]"):
        stats.perplexities(lls, tokens, [3], bytes_)


def test_perplexity_intervals_over_wikitext_documents():
    path = DATA_DIR / "wikitext-2" / "test.txt"
    if not path.exists():
        pytest.skip(f"{path} not found; set EVALKIT_DATA_DIR to the offline data folder")
    text = path.read_text(encoding="utf-8")
    documents = [d for d in text.split("\n = ") if d.strip()][:60]
    words = [stats.count_words(d) for d in documents]
    bytes_ = [stats.count_bytes(d) for d in documents]
    tokens = [b // 4 + 1 for b in bytes_]
    rng = np.random.default_rng(0)
    lls = [-w * rng.uniform(3.0, 5.0) for w in words]  # 3-5 nats per word
    point = stats.perplexities(lls, tokens, words, bytes_)
    intervals = stats.perplexity_cis(lls, tokens, words, bytes_, rounds=500, seed=0)
    assert math.exp(3.0) < point["word_perplexity"] < math.exp(5.0)
    assert point["bits_per_byte"] == pytest.approx(math.log2(point["byte_perplexity"]))
    for metric, estimate in intervals.items():
        assert estimate.value == pytest.approx(point[metric]) and estimate.n == len(documents)
        assert estimate.ci_low < estimate.value < estimate.ci_high
