"""The pairwise-judge section of the leaderboard, rendered from the store alone.

For each judge and prompt set: which judge it is (prompt file, model, method,
the position rule, and its own description, so a weak judge is labelled as
one), Bradley–Terry ratings and per-pair win / tie / loss with the win rate and
the length-controlled win rate under each position rule that can be computed
(the judge's own first, the strict MT-Bench rule always, side by side with
their agreement), position bias, and everything that is not a verdict:
unscored replies, failed requests, stale or missing judgments. Then the
agreement of every two judges that judged the same prompt set.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from evalkit.judge.calibration import DEFAULT_RULE, RULES, rules_for
from evalkit.judge.contamination import overlap_text
from evalkit.judge.methods import METHODS
from evalkit.judge.verdicts import JudgedPair, judge_infos, judged_pairs, judgment_rows
from evalkit.report.judge_style import judge_style_lines
from evalkit.report.judge_tables import (
    bias_lines,
    judge_agreement_section,
    pair_table,
    plain_ratings,
    ratings_table,
    rule_agreement,
)
from evalkit.store.db import Store
from evalkit.types import shown_path


def judge_section(store: Store, run: dict[str, Any], reports_dir: Path) -> list[str]:
    rows = judgment_rows(store)
    groups = list(dict.fromkeys((r["judge"], r["prompt_set"]) for r in rows))
    if not groups:
        return []
    seed = run.get("provenance", {}).get("seed", 0) if run else 0
    infos = judge_infos(store)
    lines = ["## Pairwise judge", "",
             "Every pair of answers is judged twice, once in each order. Two rules turn the two verdicts into "
             "one: the **strict** rule (MT-Bench's) counts a win only when both orders agree, anything else is a "
             "tie; the **calibrated** rule, for judges that give verdict probabilities, averages them over both "
             "orders (balanced position calibration, Wang et al. 2023), so a judge's pull toward one position "
             "cancels. Each table names its rule. Win rates count a tie as half a win; intervals are 95% "
             "(Wilson for win rates and shares, bootstrap over prompts for the length-controlled rate and the "
             "ratings). The length-controlled win rate is the win rate a logistic model of verdict on length "
             "difference predicts at equal lengths (AlpacaEval 2's idea).", ""]
    decided = {}
    for judge, prompt_set in groups:
        group_rows = [r for r in rows if r["judge"] == judge and r["prompt_set"] == prompt_set]
        info = infos.get((judge, prompt_set), {})
        group_lines, decided[(judge, prompt_set)] = _group(store, judge, prompt_set, group_rows, info, reports_dir,
                                                            seed)
        lines += group_lines
    return lines + judge_agreement_section(decided)


def _group(store, judge, prompt_set, rows, info, reports_dir, seed) -> tuple[list[str], tuple[str, dict]]:
    pairs = judged_pairs(store, prompt_set, judge)
    models = _model_order(info, pairs)
    n_prompts = len({p.prompt_id for p in pairs})
    rule, by_rule, note = rules_for(info, pairs)
    beside = [name for name in by_rule if name != rule]
    shown = f"; the {beside[0]} rule is shown beside it" if beside else ""
    lines = [f"### Judge `{judge}` on prompt set `{prompt_set}` ({n_prompts} prompts, {len(models)} models)", "",
             _describe(info), "", f"Position rule: **{rule}** ({RULES[rule].text}; the judge's setting{shown}).{note}",
             ""]
    lines += ratings_table(by_rule, reports_dir, judge, prompt_set, seed)
    lines += judge_style_lines(store, rule, by_rule[rule], plain_ratings(by_rule[rule], seed), seed)
    lines += pair_table(by_rule, rows, models, seed) + rule_agreement(by_rule)
    lines += [""] + bias_lines(rows, pairs) + _problems(store, judge, prompt_set, rows, info, by_rule)
    return lines + [""], (rule, by_rule)


def _model_order(info: dict, pairs: list[JudgedPair]) -> list[str]:
    seen = {m for p in pairs for m in (p.model_a, p.model_b)}
    ordered = [m for m in info.get("models", []) if m in seen]
    return ordered + sorted(seen - set(ordered))


def _method_text(name: str) -> str:
    """A method no longer registered (a store written by another evalkit) is named as stored."""
    return METHODS[name].text if name in METHODS else name


def _describe(info: dict) -> str:
    if not info:
        return "Judge details were not recorded."
    prompt = f"prompt `{info['prompt']}` v{info['prompt_version']}"
    if info.get("reference_prompt"):
        prompt += f" (`{info['reference_prompt']}` for prompts with a reference answer)"
    source = shown_path(info["source"])
    text = (f"Judge model `{info['model']}` ({source}, fingerprint `{info['fingerprint']}`), {prompt}; "
            f"{_method_text(info['method'])}.")
    text += overlap_text(info.get("prompt_set_overlap"))
    if info.get("description"):
        text += f" **{info['description'].rstrip('.')}.**"
    return text


def _problems(store, judge, prompt_set, rows, info, by_rule) -> list[str]:
    lines = []
    for name in (n for n in by_rule if RULES[n].needs_probabilities):
        lacking = sum(p.final is not None and c.final is None for p, c in zip(by_rule[DEFAULT_RULE], by_rule[name]))
        if lacking:
            lines.append(f"- ⚠ {lacking} items have verdicts but no stored verdict probabilities (judged before "
                         f"evalkit stored them) and are unscored under the {name} rule; `evalkit judge` "
                         f"re-judges them from the response cache.")
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
