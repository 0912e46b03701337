"""The Verdict section on constructed result frames: better, worse, no difference and not evidence, each only
where the paired test after the Benjamini–Hochberg correction (or a health check, the scale's ends, the item
count) says so."""

import pandas as pd

from evalkit.report import verdict
from evalkit.report.frames import RESULT_COLUMNS, comparisons_frame


def results(rows):
    return pd.DataFrame([{"model": m, "task": t, "metric": k, "value": v, "ci_low": None, "ci_high": None, "n": 100,
                          "unscored": 0, "higher_is_better": hib, "primary": True, "interval": "", "run": 1}
                         for m, t, k, v, hib in rows], columns=RESULT_COLUMNS)


def comparison(task, metric, a, b, diff, p, n=100, higher=True, test="mcnemar exact"):
    return {"task": task, "metric": metric, "model_a": a, "model_b": b, "diff": diff, "ci_low": diff - 0.05,
            "ci_high": diff + 0.05, "p_value": p, "test": test, "n": n, "higher_is_better": higher,
            "p_resolution": 0.0}


RESULTS = results([("base", "quiz", "acc", 0.40, True), ("sft", "quiz", "acc", 0.60, True),
                   ("base", "ppl", "word_perplexity", 20.0, False), ("sft", "ppl", "word_perplexity", 25.0, False),
                   ("base", "trivia", "acc", 0.50, True), ("sft", "trivia", "acc", 0.52, True),
                   ("base", "maths", "exact_match", 0.0, True), ("sft", "maths", "exact_match", 0.0, True),
                   ("base", "mcq", "acc", 0.25, True), ("sft", "mcq", "acc", 0.45, True),
                   ("base", "small", "acc", 0.1, True), ("sft", "small", "acc", 0.9, True)])
ROWS = [comparison("quiz", "acc", "sft", "base", 0.20, 0.0001),           # improvement
        comparison("ppl", "word_perplexity", "sft", "base", 5.0, 0.0001, higher=False, test="paired bootstrap"),
        comparison("trivia", "acc", "sft", "base", 0.02, 0.6),            # no difference
        comparison("maths", "exact_match", "sft", "base", 0.0, 1.0),      # at the floor
        comparison("mcq", "acc", "sft", "base", 0.20, 0.0001),            # significant, but flagged
        comparison("small", "acc", "sft", "base", 0.8, 0.002, n=10)]      # significant, but 10 items
FLAGS = {("base", "mcq"): ["picks option A on 100 of 100 items (100%)"]}


def lines_for(rows, flags=FLAGS, parents=None):
    frame = comparisons_frame(rows)
    return verdict.verdict_section(frame, RESULTS, ["base", "sft"], parents or {"sft": "base"}, flags)


def test_improvement_regression_no_difference_and_flagged_each_in_its_place():
    text = "\n".join(lines_for(ROWS))
    assert text.startswith("## Verdict")
    assert "**sft** against base (its parent):" in text
    assert "- Better (1):\n  - quiz · acc ↑ (0.4000 → 0.6000, difference 0.2000 [0.1500, 0.2500]" in text
    assert "- Worse (1):\n  - ppl · word_perplexity ↓ (20.000 → 25.000, difference 5.000" in text
    assert "- No difference shown (1):\n  - trivia · acc ↑ (0.5000 → 0.5200" in text
    assert ("- Not evidence (3):\n  - maths · exact_match: both at 0, the floor\n"
            "  - mcq · acc: base health-flagged (picks option A on 100 of 100 items (100%))\n"
            "  - small · acc: 10 items, fewer than 30") in text


def test_better_and_worse_follow_the_adjusted_p_not_the_raw_one():
    """0.03 is below 0.05 alone, but not after the correction over 20 comparisons: no difference shown."""
    rows = [comparison("quiz", "acc", "sft", "base", 0.2, 0.03)] + [
        comparison("trivia", "acc", "sft", "base", 0.0, 0.9) for _ in range(19)]
    text = "\n".join(lines_for(rows, flags={}))
    assert "- Better" not in text and "- No difference shown (20):\n  - quiz · acc" in text
    assert "over all 20 comparisons" in text


def test_a_ceiling_on_a_proportion_is_not_evidence():
    ceiling = results([("base", "easy", "acc", 1.0, True), ("sft", "easy", "acc", 1.0, True)])
    frame = comparisons_frame([comparison("easy", "acc", "sft", "base", 0.0, 1.0)])
    lines = verdict.verdict_section(frame, ceiling, ["base", "sft"], {}, {})
    assert "  - easy · acc: both at 1, the ceiling" in lines


def test_each_candidate_against_its_configured_parent_or_the_model_before_it():
    found = verdict.lineages(["base", "sft", "dpo", "other"], {"sft": "base", "dpo": "sft", "other": None})
    assert [(f.model, f.parent, f.configured) for f in found] == [
        ("sft", "base", True), ("dpo", "sft", True), ("other", "dpo", False)]
    # dpo against base is also in the comparisons table, but the verdict reads dpo against sft only
    rows = [comparison("quiz", "acc", "sft", "base", 0.2, 0.0001),
            comparison("quiz", "acc", "dpo", "base", 0.2, 0.0001)]
    lines = verdict.verdict_section(comparisons_frame(rows), RESULTS, ["base", "sft", "dpo"], {"dpo": "sft"}, {})
    text = "\n".join(lines)
    assert "**sft** against base (the model listed before it; no parent configured):" in text
    assert "**dpo** against sft (its parent):\n\n- not compared" in text


def test_one_model_has_no_verdict():
    assert verdict.verdict_section(comparisons_frame([]), RESULTS, ["base"], {}, {}) == []
