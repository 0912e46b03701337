"""Uncertainty of a score and paired comparison of two models on the same items.

Which interval the leaderboard shows: mean_ci, the normal interval around the
mean with the sample standard error (ddof=1), i.e. mean +- z * stderr with
lm-eval's stderr, so the +- agrees with lm-eval's output. It degenerates for
proportions at 0 or 1 on few items (stderr 0); wilson_ci is offered for that.
Corpus metrics (BLEU, chrF, perplexity) get bootstrap_ci over documents.
Differences between two models on the same items: compare (McNemar's exact
test for 0/1 scores, paired bootstrap otherwise).
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

# Bootstrap index draws are made in chunks of about this many elements, so
# 1,000 rounds over 14,000 MMLU items stay within a few tens of MB.
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class Estimate:
    value: float
    n: int
    ci_low: float
    ci_high: float
    stderr: float


@dataclass(frozen=True)
class Comparison:
    """diff = score(a) - score(b) on the same n items; method names the test."""

    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    method: str


def _as_scores(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 0 or len(array) == 0:
        raise ValueError(f"{name} is empty: nothing to estimate")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array).reshape(len(array), -1).all(axis=1))[0])
        raise ValueError(
            f"{name} has a non-finite value at index {bad}; count unscored samples "
            "explicitly (e.g. as 0) or drop them before aggregating"
        )
    return array


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)  # stdlib: scipy costs 0.6 s to import


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean with a normal interval; stderr = sample std (ddof=1) / sqrt(n).

    With one value the spread is unknown: stderr and the interval are NaN.
    """
    scores = _as_scores(values)
    n, mean = len(scores), float(scores.mean())
    if n == 1:
        return Estimate(mean, 1, math.nan, math.nan, math.nan)
    stderr = float(scores.std(ddof=1) / math.sqrt(n))
    half = _z(confidence) * stderr
    return Estimate(mean, n, mean - half, mean + half, stderr)


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Proportion with the Wilson score interval (sensible at 0/n and n/n)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    z, p = _z(confidence), successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    stderr = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else math.nan  # = mean_ci's
    # at 0 of n (n of n) the bound is exactly 0 (1); centre - half leaves a float residue such as 2.8e-17
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(p, n, low, high, stderr)


def _bootstrap_distribution(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float | np.ndarray],
    rounds: int,
    seed: int,
    vectorized: bool,
) -> np.ndarray:
    """statistic of `rounds` resamples of the rows of `values` (items/documents).

    vectorized: statistic takes (rounds_chunk, n, ...) and returns (rounds_chunk,);
    otherwise it is called once per round with an (n, ...) array.
    Indices come from rng.integers(0, n, (rounds, n)), drawn in chunks (the
    stream is the same as one draw), as scipy.stats.bootstrap draws them.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    rng = np.random.default_rng(seed)
    n = len(values)
    per_round = max(1, values.size)
    chunk = max(1, _CHUNK_ELEMENTS // per_round)
    parts = []
    for start in range(0, rounds, chunk):
        indices = rng.integers(0, n, (min(chunk, rounds - start), n))
        if vectorized:
            parts.append(np.asarray(statistic(values[indices]), dtype=float))
        else:
            parts.append(np.array([statistic(values[row]) for row in indices], dtype=float))
    return np.concatenate(parts)


def _mean_over_items(resamples: np.ndarray) -> np.ndarray:
    return resamples.mean(axis=1)


def _percentile_interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    _z(confidence)  # validates confidence
    alpha = 1 - confidence
    low, high = np.percentile(distribution, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float | np.ndarray] | None = None,
    rounds: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    vectorized: bool = False,
) -> Estimate:
    """Percentile bootstrap interval of statistic(values), resampling rows.

    values: per-item scores (n,) or per-document sufficient statistics (n, k),
    e.g. scoring.corpus_statistics for BLEU. statistic None means the mean,
    computed vectorised. stderr is the bootstrap distribution's std (ddof=1),
    as lm-eval's bootstrap_stderr reports it.
    """
    data = _as_scores(values)
    if statistic is None:
        if data.ndim != 1:
            raise ValueError(f"the default statistic (mean) needs 1-D scores, got shape {data.shape}")
        statistic, vectorized = _mean_over_items, True
    point = float(statistic(data[None])[0]) if vectorized else float(statistic(data))
    distribution = _bootstrap_distribution(data, statistic, rounds, seed, vectorized)
    low, high = _percentile_interval(distribution, confidence)
    stderr = float(distribution.std(ddof=1)) if rounds > 1 else math.nan
    return Estimate(point, len(data), low, high, stderr)


def _check_paired(a: np.ndarray, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(
            f"paired comparison needs the same items: model a has {len(a)} scores, "
            f"model b has {len(b)}; score both models on the same samples"
        )


def _two_sided_p(distribution: np.ndarray, observed: float, rounds: int) -> float:
    """Twice the share of resampled differences on the other side of 0 from the
    observed difference, floored at 1/rounds (a bootstrap of `rounds` draws
    cannot resolve smaller p-values) and capped at 1."""
    if observed == 0:
        return 1.0
    other_side = distribution <= 0 if observed > 0 else distribution >= 0
    return float(min(1.0, max(1.0 / rounds, 2.0 * other_side.mean())))


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    rounds: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    statistic: Callable[[np.ndarray], float] | None = None,
) -> Comparison:
    """Paired bootstrap of statistic(a) - statistic(b): the same resampled items
    for both models. statistic None means the mean (vectorised); otherwise it
    takes rows of a or b (e.g. corpus BLEU statistics) and is called per round.
    """
    scores_a, scores_b = _as_scores(a, "a"), _as_scores(b, "b")
    _check_paired(scores_a, scores_b)
    if statistic is None:
        item_diffs = scores_a - scores_b
        observed = float(item_diffs.mean())
        distribution = _bootstrap_distribution(item_diffs, _mean_over_items, rounds, seed, True)
    else:
        observed = float(statistic(scores_a) - statistic(scores_b))
        stacked = np.stack([scores_a, scores_b], axis=1)  # rows stay paired
        distribution = _bootstrap_distribution(
            stacked, lambda rows: statistic(rows[:, 0]) - statistic(rows[:, 1]), rounds, seed, False
        )
    low, high = _percentile_interval(distribution, confidence)
    p_value = _two_sided_p(distribution, observed, rounds)
    return Comparison(observed, low, high, p_value, len(scores_a), "paired bootstrap")


def _as_binary(values: Sequence[float], name: str) -> np.ndarray:
    array = _as_scores(values, name)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold 0/1 scores for McNemar's test; use paired_bootstrap")
    return array.astype(bool)


def mcnemar(
    a_correct: Sequence[float], b_correct: Sequence[float], confidence: float = 0.95
) -> Comparison:
    """McNemar's exact test: a two-sided binomial test (p = 1/2) on the items
    where exactly one model is right. The interval is the Wald interval for a
    difference of paired proportions (Agresti, Categorical Data Analysis 10.1).
    """
    right_a, right_b = _as_binary(a_correct, "a_correct"), _as_binary(b_correct, "b_correct")
    _check_paired(right_a, right_b)
    n = len(right_a)
    only_a = int((right_a & ~right_b).sum())
    only_b = int((~right_a & right_b).sum())
    discordant = only_a + only_b
    diff = (only_a - only_b) / n
    if discordant == 0:
        return Comparison(0.0, 0.0, 0.0, 1.0, n, "mcnemar exact")
    from scipy import stats as scipy_stats

    p_value = float(scipy_stats.binomtest(only_a, discordant, 0.5).pvalue)
    stderr = math.sqrt(max(0.0, discordant - (only_a - only_b) ** 2 / n)) / n
    half = _z(confidence) * stderr
    return Comparison(diff, diff - half, diff + half, p_value, n, "mcnemar exact")


def compare(
    a: Sequence[float], b: Sequence[float], rounds: int = 1000, seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """McNemar for 0/1 per-item scores (accuracy, exact match, pass@1),
    the paired bootstrap of the mean difference for anything else."""
    scores_a, scores_b = _as_scores(a, "a"), _as_scores(b, "b")
    _check_paired(scores_a, scores_b)
    binary = np.isin(scores_a, (0.0, 1.0)).all() and np.isin(scores_b, (0.0, 1.0)).all()
    if binary:
        return mcnemar(scores_a, scores_b, confidence)
    return paired_bootstrap(scores_a, scores_b, rounds, seed, confidence)


# ------------------------------------------------------------ perplexity --


def count_words(text: str) -> int:
    """lm-eval's word count for perplexity tasks (leading/trailing whitespace
    adds an empty "word", as there)."""
    return len(re.split(r"\s+", text))


def count_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


PERPLEXITY_UNITS = {  # metric -> column of the per-document table it divides by
    "token_perplexity": 1,
    "word_perplexity": 2,
    "byte_perplexity": 3,
    "bits_per_byte": 3,
}


def _perplexity_table(
    loglikelihoods: Sequence[float], tokens: Sequence[int], words: Sequence[int],
    bytes_: Sequence[int],
) -> np.ndarray:
    columns = [np.asarray(c, dtype=float) for c in (loglikelihoods, tokens, words, bytes_)]
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        raise ValueError(f"per-document columns differ in length: {[len(c) for c in columns]}")
    return _as_scores(np.stack(columns, axis=1), "per-document perplexity table")


def _perplexity_statistic(metric: str) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised: (..., n_documents, 4) -> (...). Sums over documents first,
    as lm-eval's weighted_perplexity / bits_per_byte do (not a mean of ratios)."""
    unit = PERPLEXITY_UNITS[metric]

    def statistic(table: np.ndarray) -> np.ndarray:
        nats_per_unit = -table[..., 0].sum(axis=-1) / table[..., unit].sum(axis=-1)
        return nats_per_unit / math.log(2) if metric == "bits_per_byte" else np.exp(nats_per_unit)

    return statistic


def perplexities(
    loglikelihoods: Sequence[float], tokens: Sequence[int], words: Sequence[int],
    bytes_: Sequence[int],
) -> dict[str, float]:
    """Corpus perplexities from per-document total log-likelihood (nats) and
    token/word/byte counts: exp(-sum(ll) / sum(units)); bits_per_byte is
    -sum(ll) / sum(bytes) / ln 2."""
    table = _perplexity_table(loglikelihoods, tokens, words, bytes_)
    return {metric: float(_perplexity_statistic(metric)(table)) for metric in PERPLEXITY_UNITS}


def perplexity_cis(
    loglikelihoods: Sequence[float], tokens: Sequence[int], words: Sequence[int],
    bytes_: Sequence[int], rounds: int = 1000, seed: int = 0, confidence: float = 0.95,
) -> dict[str, Estimate]:
    """perplexities with percentile bootstrap intervals over documents."""
    table = _perplexity_table(loglikelihoods, tokens, words, bytes_)
    return {
        metric: bootstrap_ci(
            table, _perplexity_statistic(metric), rounds, seed, confidence, vectorized=True
        )
        for metric in PERPLEXITY_UNITS
    }
