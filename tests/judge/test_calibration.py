"""The position rules on a toy judge whose position bias and true preference are known: it picks the
answer shown first every time, yet its probabilities lean toward the better answer. The strict rule
sees only ties; the calibrated rule recovers the true order, and the report shows both."""

import math
import random

import pytest

from evalkit.judge.agreement import verdict_agreement
from evalkit.judge.calibration import balanced_probabilities, calibrated_verdict, under_rule
from evalkit.judge.stats import battles, pair_stats, position_split
from evalkit.judge.verdicts import judged_pairs, put_judge_info, put_judgments, shown_to_verdict
from evalkit.ratings import rate
from evalkit.report.judge import judge_section
from evalkit.store.db import Store

QUALITY = {"base": 0.0, "sft": 1.0, "dpo": 2.0}  # the true preference: dpo > sft > base
FIRST_BIAS = 2.5  # logit pull toward the answer shown first: larger than any quality difference
P_TIE = 0.05
N_PROMPTS = 30


def toy_probs(first: str, second: str, noise: float) -> tuple[float, float, float]:
    """(P(first better), P(second better), P(tie)) of the toy judge."""
    p_first = 1 / (1 + math.exp(-(FIRST_BIAS + 0.5 * (QUALITY[first] - QUALITY[second]) + noise)))
    return p_first * (1 - P_TIE), (1 - p_first) * (1 - P_TIE), P_TIE


def toy_store(tmp_path, tie_band=0.02) -> Store:
    store = Store(tmp_path / "store.db")
    rng = random.Random(5)
    answers, rows = [], []
    for i in range(N_PROMPTS):
        prompt = f"p{i}"
        answers += [(model, "fp-" + model, "toy", prompt, "Q", f"{model} answer {i}", 0.0) for model in QUALITY]
        for model_a, model_b in (("base", "dpo"), ("base", "sft"), ("dpo", "sft")):
            noise = rng.gauss(0, 0.1)  # the same prompt's noise in both orders: the item's own quirk
            for position, (first, second) in (("ab", (model_a, model_b)), ("ba", (model_b, model_a))):
                probs = toy_probs(first, second, noise)
                shown = ("A", "B", "tie")[max(range(3), key=lambda k: probs[k])]
                rows.append({"judge": "toy", "prompt_set": "toy", "prompt_id": prompt, "model_a": model_a,
                             "model_b": model_b, "position": position, "key": f"{prompt}{model_a}{model_b}{position}",
                             "template": "t", "judge_fingerprint": "j", "fingerprint_a": "fp-" + model_a,
                             "fingerprint_b": "fp-" + model_b, "len_a": 10, "len_b": 10, "raw": str(probs),
                             "shown": shown, "verdict": shown_to_verdict(shown, position), "error": None,
                             "created": 0.0, "probs": probs})
    with store.transaction() as db:
        db.executemany("INSERT INTO answers VALUES (?,?,?,?,?,?,?)", answers)
    put_judgments(store, rows)
    put_judge_info(store, "toy", "toy", {"judge": "toy", "method": "logprobs", "prompt": "t", "prompt_version": 1,
                                         "model": "m", "source": "s", "fingerprint": "j", "position": "calibrated",
                                         "tie_band": tie_band, "models": list(QUALITY)})
    return store


def test_balanced_probabilities_cancel_a_constant_position_pull():
    # P(first) = 0.9 whoever is first, with a slight lean to a: averaged, the pull is gone and the lean is left
    p_a, p_b, p_tie = balanced_probabilities((0.92, 0.06, 0.02), (0.88, 0.10, 0.02))
    assert (p_a, p_b, p_tie) == pytest.approx((0.51, 0.47, 0.02))
    assert calibrated_verdict((0.92, 0.06, 0.02), (0.88, 0.10, 0.02)) == "a"
    assert calibrated_verdict((0.92, 0.06, 0.02), (0.88, 0.10, 0.02), tie_band=0.055) == "tie"  # 0.52 is within 0.05
    assert calibrated_verdict((0.2, 0.2, 0.6), (0.3, 0.1, 0.6)) == "tie"  # the judge itself says tie
    assert calibrated_verdict((0.1, 0.9, 0.0), None) is None  # one order has no probabilities: unscored


def test_strict_rule_sees_only_ties_and_calibrated_recovers_the_preference(tmp_path):
    pairs = judged_pairs(toy_store(tmp_path), "toy", "toy")
    assert len(pairs) == 3 * N_PROMPTS and all(p.final == "tie" for p in pairs)  # always first shown: a flip each
    split = position_split(pairs)
    assert split.counts() == {"consistent": 0, "first_both": 3 * N_PROMPTS, "second_both": 0, "other": 0}
    assert split.first_both.ci_low > 0.95 and split.n == 90
    calibrated = under_rule(pairs, "calibrated", tie_band=0.02)
    for better, worse in (("dpo", "sft"), ("sft", "base"), ("dpo", "base")):
        strict_stats = pair_stats(pairs, {}, better, worse, rounds=50)
        stats = pair_stats(calibrated, {}, better, worse, rounds=50)
        assert (strict_stats.wins, strict_stats.ties) == (0, N_PROMPTS)
        assert stats.wins == N_PROMPTS and stats.rate.low > 0.85
    order = [r.model for r in rate(battles(calibrated), bootstrap_rounds=0, prior=1.0)]
    assert order == ["dpo", "sft", "base"]
    agreement = verdict_agreement(pairs, calibrated)
    assert agreement.share.value == 0.0 and agreement.share.n == 90  # strict all ties, calibrated none
    assert verdict_agreement(pairs, calibrated, include_ties=False) is None


def test_a_wide_tie_band_turns_weak_preferences_into_ties(tmp_path):
    pairs = judged_pairs(toy_store(tmp_path), "toy", "toy")
    # a one-step quality gap moves the averaged preference to about 0.54 here, two steps to about 0.58
    wide = under_rule(pairs, "calibrated", tie_band=0.055)
    finals = {(p.model_a, p.model_b): set() for p in wide}
    for p in wide:
        finals[(p.model_a, p.model_b)].add(p.final)
    assert finals[("dpo", "sft")] == {"tie"} and finals[("base", "sft")] == {"tie"}
    assert finals[("base", "dpo")] == {"b"}


def test_the_report_names_the_rule_and_shows_both_side_by_side(tmp_path):
    store = toy_store(tmp_path)
    section = "\n".join(judge_section(store, {"provenance": {"seed": 1}}, tmp_path / "reports"))
    assert "Position rule: **calibrated**" in section and "tie band: a preference within 0.02 of 0.5" in section
    assert "| model | calibrated: rating [95% CI] | rank | verdicts | strict: rating [95% CI] | rank | verdicts |" in section
    assert f"| dpo vs base | strict | 0 / {N_PROMPTS} / 0 | 0 |" in section
    assert f"| dpo vs base | calibrated | {N_PROMPTS} / 0 / 0 | 0 |" in section
    assert "| strict vs calibrated | 0 / 90: 0.0000 [" in section
    assert "| picked the answer shown first in both orders | 90 | 1.000 [" in section
    ratings = [line for line in section.splitlines() if line.startswith("| **")]
    assert [line.split("**")[1] for line in ratings] == ["dpo", "sft", "base"]
    # two models can share a rank far apart: the page says why
    assert "models whose 95% intervals overlap share a rank, however far apart their ratings" in section
