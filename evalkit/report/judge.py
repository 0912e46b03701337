"""The pairwise-judge section of the leaderboard, rendered from the store alone.

For each judge and prompt set: which judge it is (prompt file, model, method,
and its own description, so a weak judge is labelled as one), Bradley–Terry
ratings from the final verdicts with bootstrap intervals, per-pair win / tie /
loss with the win rate and the length-controlled win rate, position bias, and
everything that is not a verdict: unscored replies, failed requests, stale or
missing judgments.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from evalkit.judge.stats import battles, pair_stats, position_bias
from evalkit.judge.verdicts import JudgedPair, judge_infos, judged_pairs, judgment_rows
from evalkit.ratings import NoFiniteRatingsError, pair_counts, rate, win_rate_matrix
from evalkit.report.format import fmt
from evalkit.report.plots import plot_ratings, plot_win_matrix
from evalkit.store.db import Store

METHOD_TEXT = {"generate": "verdict parsed from the judge's reply",
               "logprobs": "verdict = the most probable verdict token after the judge prompt (no text generated)",
               "reward": "verdict = sigmoid of the reward-score difference"}
BOOTSTRAP_ROUNDS = 1000


def judge_section(store: Store, run: dict[str, Any], reports_dir: Path) -> list[str]:
    rows = judgment_rows(store)
    groups = list(dict.fromkeys((r["judge"], r["prompt_set"]) for r in rows))
    if not groups:
        return []
    seed = run.get("provenance", {}).get("seed", 0) if run else 0
    infos = judge_infos(store)
    lines = ["## Pairwise judge", "",
             "Every pair of answers is judged twice, once in each order; a win counts only when both orders "
             "agree, anything else is a tie. Win rates count a tie as half a win; intervals are 95% "
             "(Wilson for win rates, bootstrap over prompts for the length-controlled rate and the ratings). "
             "The length-controlled win rate is the win rate a logistic model of verdict on length "
             "difference predicts at equal lengths (AlpacaEval 2's idea).", ""]
    for judge, prompt_set in groups:
        group_rows = [r for r in rows if r["judge"] == judge and r["prompt_set"] == prompt_set]
        info = infos.get((judge, prompt_set), {})
        lines += _group(store, judge, prompt_set, group_rows, info, reports_dir, seed)
    return lines


def _group(store, judge, prompt_set, rows, info, reports_dir, seed) -> list[str]:
    pairs = judged_pairs(store, prompt_set, judge)
    models = _model_order(info, pairs)
    n_prompts = len({p.prompt_id for p in pairs})
    lines = [f"### Judge `{judge}` on prompt set `{prompt_set}` ({n_prompts} prompts, {len(models)} models)", "",
             _describe(info), ""]
    lines += _ratings(pairs, reports_dir, judge, prompt_set, seed)
    lines += _pair_table(pairs, rows, models, seed)
    lines += [""] + _bias_lines(rows, pairs) + _problems(store, judge, prompt_set, rows, info)
    return lines + [""]


def _model_order(info: dict, pairs: list[JudgedPair]) -> list[str]:
    seen = {m for p in pairs for m in (p.model_a, p.model_b)}
    ordered = [m for m in info.get("models", []) if m in seen]
    return ordered + sorted(seen - set(ordered))


def _describe(info: dict) -> str:
    if not info:
        return "Judge details were not recorded."
    prompt = f"prompt `{info['prompt']}` v{info['prompt_version']}"
    if info.get("reference_prompt"):
        prompt += f" (`{info['reference_prompt']}` for prompts with a reference answer)"
    text = (f"Judge model `{info['model']}` ({info['source']}, fingerprint `{info['fingerprint']}`), {prompt}; "
            f"{METHOD_TEXT.get(info['method'], info['method'])}.")
    if info.get("description"):
        text += f" **{info['description'].rstrip('.')}.**"
    return text


def _ratings(pairs, reports_dir: Path, judge: str, prompt_set: str, seed: int) -> list[str]:
    fights = battles(pairs)
    if len({m for b in fights for m in (b.model_a, b.model_b)}) < 2:
        return ["No scored verdicts yet, so no ratings.", ""]
    note = ""
    try:
        ratings = rate(fights, bootstrap_rounds=BOOTSTRAP_ROUNDS, seed=seed)
    except NoFiniteRatingsError:
        ratings = rate(fights, bootstrap_rounds=BOOTSTRAP_ROUNDS, seed=seed, prior=1.0)
        note = (" The verdicts separate the models completely (some model never lost), which has no finite "
                "maximum-likelihood fit; one virtual tie per pair of models was added.")
    lines = [f"Bradley–Terry ratings from the final verdicts (mean 1000; {BOOTSTRAP_ROUNDS} bootstrap rounds).{note}",
             "", "| model | rating [95% CI] | rank | verdicts |", "|---|---|---|---|"]
    for r in ratings:
        lines.append(f"| **{r.model}** | {r.rating:.0f} [{r.ci_low:.0f}, {r.ci_high:.0f}] | {r.rank} | {r.n_battles} |")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"judge-{judge}-{prompt_set}")
    lines += ["", *_plots(ratings, fights, reports_dir, slug, judge, pair_counts, win_rate_matrix), ""]
    return lines


def _plots(ratings, fights, reports_dir: Path, slug: str, judge: str, pair_counts, win_rate_matrix) -> list[str]:
    counts = pair_counts(fights)
    ratings_png = plot_ratings(ratings, reports_dir / f"{slug}-ratings.png", title=f"Judge {judge}: ratings")
    matrix_png = plot_win_matrix(win_rate_matrix(counts), counts.models, reports_dir / f"{slug}-win-rates.png",
                                 title=f"{judge}: win rate, row vs column")
    return [f"![ratings]({ratings_png.name}) ![win rates]({matrix_png.name})"]


def _pair_table(pairs, rows, models: list[str], seed: int) -> list[str]:
    lengths = {}
    for r in rows:
        lengths[(r["prompt_id"], r["model_a"], r["model_b"])] = (r["len_a"], r["len_b"])
    lines = ["| pair | win / tie / loss | unscored | win rate [95% CI] | length-controlled [95% CI] |",
             "|---|---|---|---|---|"]
    for j in range(1, len(models)):
        for i in range(j):
            stats = pair_stats(pairs, lengths, models[j], models[i], seed)
            if stats.rate is None and not stats.unscored:
                continue
            rate = "–" if stats.rate is None else f"{fmt(stats.rate.rate)} [{fmt(stats.rate.low)}, {fmt(stats.rate.high)}]"
            lc = "–" if stats.lc_rate is None else f"{fmt(stats.lc_rate)} [{fmt(stats.lc_low)}, {fmt(stats.lc_high)}]"
            lines.append(f"| {models[j]} vs {models[i]} | {stats.wins} / {stats.ties} / {stats.losses} | "
                         f"{stats.unscored} | {rate} | {lc} |")
    return lines


def _bias_lines(rows, pairs) -> list[str]:
    bias = position_bias(rows, pairs)
    lines = []
    if bias.both_orders:
        lines.append(f"- Position bias: swapping the order changed the verdict on {bias.flips} of "
                     f"{bias.both_orders} prompt × pair items ({bias.flips / bias.both_orders:.0%}).")
    if bias.first_rate is not None:
        lines.append(f"- The answer shown first won {bias.first_wins} of {bias.decisive} single-order verdicts that "
                     f"picked a side ({fmt(bias.first_rate.rate)} [{fmt(bias.first_rate.low)}, "
                     f"{fmt(bias.first_rate.high)}]; 0.5 is no preference).")
    return lines


def _problems(store, judge, prompt_set, rows, info) -> list[str]:
    lines = []
    unscored = [r for r in rows if r["shown"] is None]
    if unscored:
        reasons = Counter(r["error"] or "unreadable" for r in unscored)
        example = unscored[0]["raw"].replace("\n", " ").replace("|", "\\|")[:160]
        lines.append(f"- ⚠ Unscored: {len(unscored)} of {len(rows)} single-order replies had no readable verdict "
                     f"({', '.join(f'{k} ×{v}' for k, v in reasons.items())}); they make their pair unscored, "
                     f"not a tie. First one: “{example}”")
    total = store.db.execute("SELECT COUNT(*) FROM judgments WHERE judge=? AND prompt_set=?",
                             (judge, prompt_set)).fetchone()[0]
    if total > len(rows):
        lines.append(f"- {total - len(rows)} stored judgments are of answers that have since changed and are left "
                     f"out; `evalkit judge` re-judges them.")
    last = info.get("last_pass", {})
    if last.get("failures") or last.get("missing"):
        failed = ", ".join(f"{k} ×{v}" for k, v in last.get("failures", {}).items()) or "none"
        lines.append(f"- ⚠ The last judging pass left {last.get('missing', 0)} judgments missing (failed requests: "
                     f"{failed}); rerun `evalkit judge` to complete only those.")
    if last.get("skipped"):
        lines.append(f"- {last['skipped']} prompt × pair items were skipped: an answer is missing or the judge needs "
                     f"a reference answer the prompt does not have.")
    return lines
