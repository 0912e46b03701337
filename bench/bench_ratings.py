"""Benchmark: Bradley–Terry ratings with 1,000 bootstrap rounds over 100,000
synthetic votes among 10 models, against Chatbot Arena's per-battle
scikit-learn fit.

    python bench/bench_ratings.py [--votes 100000] [--rounds 1000] [--reference-rounds 10]

The votes come from known true strengths (seeded), so the script also checks
that the fit recovers their order and agrees with the reference fit. The
reference is far too slow to run 1,000 rounds; it runs --reference-rounds
rounds and its time is extrapolated (the output says so). Exit status 1 when
a check fails.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib as bl  # noqa: E402

from evalkit.ratings import Battle, bradley_terry, rate  # noqa: E402

TARGET_SECONDS = 5.0
N_MODELS = 10
# Tie probability between equal models; 4 p (1 - p) times this in general,
# half of the ties "both_bad".
TIE_AT_EQUAL = 0.3


def true_strengths() -> dict[str, float]:
    """Evenly spaced ratings 60 points apart (natural scale: 60 * ln10 / 400)."""
    return {f"model-{i:02d}": (i - (N_MODELS - 1) / 2) * 60 * math.log(10) / 400 for i in range(N_MODELS)}


def synthetic_votes(n: int, strengths: dict[str, float], seed: int) -> list[Battle]:
    rng = np.random.default_rng(seed)
    names = list(strengths)
    theta = np.array([strengths[m] for m in names])
    a = rng.integers(0, N_MODELS, n)
    b = (a + rng.integers(1, N_MODELS, n)) % N_MODELS  # any other model, uniformly
    p_a = 1 / (1 + np.exp(theta[b] - theta[a]))
    # Ties score half a win in the fit, so draw them such that a's expected
    # score stays p_a: then the true strengths are what the fit should find.
    p_tie = 4 * TIE_AT_EQUAL * p_a * (1 - p_a)
    p_win_if_decided = (p_a - p_tie / 2) / (1 - p_tie)
    u = rng.random(n)
    winner = np.where(rng.random(n) < p_win_if_decided, "a", "b")
    winner = np.where(u < p_tie, np.where(u < p_tie / 2, "tie", "both_bad"), winner)
    return [Battle(names[i], names[j], w) for i, j, w in zip(a.tolist(), b.tolist(), winner.tolist())]


def arena_reference_fit(battles: list[Battle], scale=400, base=10, init_rating=1000) -> dict[str, float]:
    """Arena notebook's compute_mle_elo: battles duplicated into a per-battle
    design matrix, a tie as one win each, LogisticRegression without
    intercept or penalty (C=inf in scikit-learn 1.8), tol 1e-6."""
    from sklearn.linear_model import LogisticRegression

    models = sorted({m for bt in battles for m in (bt.model_a, bt.model_b)})
    column = {m: i for i, m in enumerate(models)}
    doubled = battles + battles
    n = len(doubled)
    x = np.zeros((n, len(models)))
    x[np.arange(n), [column[bt.model_a] for bt in doubled]] = 1.0
    x[np.arange(n), [column[bt.model_b] for bt in doubled]] = -1.0
    y = np.array([bt.winner == "a" for bt in doubled], dtype=float)
    tie = np.array([bt.winner in ("tie", "both_bad") for bt in doubled])
    tie[n // 2 :] = False
    y[tie] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "C=inf ignores C"
        fit = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6).fit(x, y)
    return dict(zip(models, scale / math.log(base) * fit.coef_[0] + init_rating))


def time_reference(battles: list[Battle], rounds: int, seed: int) -> tuple[dict[str, float], float, float]:
    """Point fit, then `rounds` bootstrap rounds (resample battles, refit).
    Returns the point fit, its seconds, and seconds per bootstrap round."""
    import sklearn.linear_model  # noqa: F401  (import time is not fit time)

    start = time.perf_counter()
    point = arena_reference_fit(battles)
    point_seconds = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(rounds):
        picks = rng.integers(0, len(battles), len(battles))
        arena_reference_fit([battles[k] for k in picks])
    return point, point_seconds, (time.perf_counter() - start) / rounds


def measure(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--reference-rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--elo", action="store_true", help="also time the online-Elo bootstrap")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)

    strengths = true_strengths()
    battles = synthetic_votes(args.votes, strengths, args.seed)
    ties = sum(bt.winner in ("tie", "both_bad") for bt in battles) / len(battles)
    print(f"{args.votes:,} votes among {N_MODELS} models, {ties:.0%} ties; "
          f"{args.rounds:,} bootstrap rounds")  # fmt: skip

    start = time.perf_counter()
    ratings = rate(battles, method="bt", bootstrap_rounds=args.rounds, seed=args.seed)
    ours_seconds = time.perf_counter() - start

    ref_point, ref_point_s, ref_round_s = time_reference(battles, args.reference_rounds, args.seed)
    ref_seconds = ref_point_s + args.rounds * ref_round_s

    print(f"\n{'':28}{'seconds':>10}")
    print(f"{'evalkit rate()':28}{ours_seconds:>10.2f}   measured, {args.rounds} rounds")
    print(f"{'Arena sklearn per-battle':28}{ref_seconds:>10.1f}   extrapolated: point fit "
          f"{ref_point_s:.2f} s + {args.rounds} x {ref_round_s:.2f} s/round "
          f"(measured over {args.reference_rounds} rounds)")  # fmt: skip
    print(f"{'speed-up':28}{ref_seconds / ours_seconds:>10.0f}x")
    if args.elo:
        start = time.perf_counter()
        rate(battles, method="elo", bootstrap_rounds=args.rounds, seed=args.seed)
        print(f"{'evalkit rate(method=elo)':28}{time.perf_counter() - start:>10.2f}   "
              f"measured, {args.rounds} rounds (replays every resample)")  # fmt: skip
    return report_checks(ratings, strengths, battles, ref_point, ours_seconds)


def report_checks(ratings, strengths, battles, ref_point, ours_seconds) -> int:
    truth = {m: 1000 + 400 / math.log(10) * s for m, s in strengths.items()}
    print(f"\n{'model':12}{'true':>8}{'fitted':>9}{'95% interval':>20}{'rank':>6}")
    for r in ratings:
        print(f"{r.model:12}{truth[r.model]:>8.1f}{r.rating:>9.1f}"
              f"{f'[{r.ci_low:.1f}, {r.ci_high:.1f}]':>20}{r.rank:>6}")  # fmt: skip

    point = bradley_terry(battles)
    max_gap = max(abs(point[m] - ref_point[m]) for m in point)
    fitted_order = [r.model for r in ratings]
    true_order = sorted(truth, key=truth.get, reverse=True)
    covered = sum(r.ci_low <= truth[r.model] <= r.ci_high for r in ratings)
    checks = [
        (f"evalkit under {TARGET_SECONDS:.0f} s ({ours_seconds:.2f} s)", ours_seconds < TARGET_SECONDS),
        ("fitted order equals the true order", fitted_order == true_order),
        (f"max |evalkit - sklearn| = {max_gap:.4f} points (< 0.01)", max_gap < 0.01),
        (f"true rating inside the interval for {covered}/{len(ratings)} models", covered >= len(ratings) - 2),
    ]
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv: list[str] | None = None) -> int:
    return bl.printed_report(measure, argv, "Ratings: Bradley–Terry bootstrap",
                             "synthetic votes from known strengths (seeded), evalkit rate() against the Arena scikit-learn fit")


if __name__ == "__main__":
    sys.exit(main())
