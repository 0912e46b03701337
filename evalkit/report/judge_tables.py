"""The tables of the pairwise-judge section: ratings and per-pair win rates under each position
rule side by side, the rules' agreement, position bias, and judge–judge agreement."""

from __future__ import annotations

import re
from pathlib import Path

from evalkit.judge.agreement import verdict_agreement
from evalkit.judge.calibration import DEFAULT_RULE, RULES
from evalkit.judge.stats import battles, pair_stats, position_bias, position_split
from evalkit.ratings import RANK_NOTE, NoFiniteRatingsError, pair_counts, rate, win_rate_matrix
from evalkit.report.format import fmt
from evalkit.report.plots import plot_ratings, plot_win_matrix

BOOTSTRAP_ROUNDS = 1000


def interval(estimate) -> str:
    return f"{fmt(estimate.value)} [{fmt(estimate.ci_low)}, {fmt(estimate.ci_high)}]"


def _rated(pairs, seed: int):
    """(ratings, battles, whether a virtual tie per pair was needed for a finite fit), or None."""
    fights = battles(pairs)
    if len({m for b in fights for m in (b.model_a, b.model_b)}) < 2:
        return None
    try:
        return rate(fights, bootstrap_rounds=BOOTSTRAP_ROUNDS, seed=seed), fights, False
    except NoFiniteRatingsError:
        return rate(fights, bootstrap_rounds=BOOTSTRAP_ROUNDS, seed=seed, prior=1.0), fights, True


def plain_ratings(pairs, seed: int):
    """(the plain Bradley–Terry ratings of one rule's verdicts as the ratings table shows them, whether they
    needed a virtual tie per pair), or None."""
    rated = _rated(pairs, seed)
    return None if rated is None else (rated[0], rated[2])


def ratings_table(by_rule: dict[str, list], reports_dir: Path, judge: str, prompt_set: str, seed: int) -> list[str]:
    """One Bradley–Terry table with a column pair per rule; the plots are of the first (the judge's own) rule."""
    rated = {rule: _rated(pairs, seed) for rule, pairs in by_rule.items()}
    rated = {rule: r for rule, r in rated.items() if r is not None}
    if not rated:
        return ["No scored verdicts yet, so no ratings.", ""]
    notes = [f"- {rule}: the verdicts separate the models completely (some model never lost), which has no finite "
             f"maximum-likelihood fit; one virtual tie per pair of models was added."
             for rule, (_, _, prior) in rated.items() if prior]
    header = "| model | " + " | ".join(f"{rule}: rating [95% CI] | rank | verdicts" for rule in rated) + " |"
    lines = [f"Bradley–Terry ratings from the final verdicts (mean 1000; {BOOTSTRAP_ROUNDS} bootstrap rounds), "
             f"by rule. {RANK_NOTE}", "", *notes, *([""] if notes else []), header,
             "|---|" + "---|---|---|" * len(rated)]
    by_model = {rule: {r.model: r for r in ratings} for rule, (ratings, _, _) in rated.items()}
    order = [r.model for r in next(iter(rated.values()))[0]]
    for model in order + sorted({m for table in by_model.values() for m in table} - set(order)):
        cells = []
        for rule in rated:
            r = by_model[rule].get(model)
            cells.append("– | – | 0" if r is None else
                         f"{r.rating:.0f} [{r.ci_low:.0f}, {r.ci_high:.0f}] | {r.rank} | {r.n_battles}")
        lines.append(f"| **{model}** | " + " | ".join(cells) + " |")
    first_rule = next(iter(rated))
    ratings, fights, _ = rated[first_rule]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"judge-{judge}-{prompt_set}")
    counts = pair_counts(fights)
    ratings_png = plot_ratings(ratings, reports_dir / f"{slug}-ratings.png", title=f"Judge {judge}: ratings ({first_rule})")
    matrix_png = plot_win_matrix(win_rate_matrix(counts), counts.models, reports_dir / f"{slug}-win-rates.png",
                                 title=f"{judge}: win rate, row vs column ({first_rule})")
    return lines + ["", f"![ratings]({ratings_png.name}) ![win rates]({matrix_png.name}) ({first_rule} rule)", ""]


def pair_table(by_rule: dict[str, list], rows, models: list[str], seed: int) -> list[str]:
    lengths = {(r["prompt_id"], r["model_a"], r["model_b"]): (r["len_a"], r["len_b"]) for r in rows}
    lines = ["| pair | rule | win / tie / loss | unscored | win rate [95% CI] | length-controlled [95% CI] |",
             "|---|---|---|---|---|---|"]
    for j in range(1, len(models)):
        for i in range(j):
            for rule, pairs in by_rule.items():
                s = pair_stats(pairs, lengths, models[j], models[i], seed)
                if s.rate is None and not s.unscored:
                    continue
                rate_text = "–" if s.rate is None else f"{fmt(s.rate.rate)} [{fmt(s.rate.low)}, {fmt(s.rate.high)}]"
                lc = "–" if s.lc_rate is None else f"{fmt(s.lc_rate)} [{fmt(s.lc_low)}, {fmt(s.lc_high)}]"
                lines.append(f"| {models[j]} vs {models[i]} | {rule} | {s.wins} / {s.ties} / {s.losses} | "
                             f"{s.unscored} | {rate_text} | {lc} |")
    return lines


def agreement_cells(first, second) -> str:
    """'with ties | without ties' cells: agreeing / n, share [95% CI], Cohen's kappa."""
    cells = []
    for include_ties in (True, False):
        found = verdict_agreement(first, second, include_ties)
        if found is None:
            cells.append("– (no items)")
            continue
        kappa = "–" if found.kappa != found.kappa else f"{found.kappa:.2f}"  # NaN: one label each side
        agreeing = round(found.share.value * found.share.n)
        cells.append(f"{agreeing} / {found.share.n}: {interval(found.share)}, κ {kappa}")
    return " | ".join(cells)


def rule_agreement(by_rule: dict[str, list]) -> list[str]:
    if len(by_rule) < 2:
        return []
    names = [name for name in RULES if name in by_rule]  # registry order, whichever rule the judge asked for
    pairs = [(names[x], names[y]) for x in range(len(names)) for y in range(x + 1, len(names))]
    return ["", f"Agreement of the {'two' if len(names) == 2 else len(names)} rules on the same items (with ties; "
            "without: items either rule called a tie left out):", "", "| rules | with ties | without ties |",
            "|---|---|---|"] + [f"| {a} vs {b} | {agreement_cells(by_rule[a], by_rule[b])} |" for a, b in pairs]


def bias_lines(rows, pairs) -> list[str]:
    """Flips and first-position wins, then MT-Bench's split of the items judged in both orders."""
    bias, split = position_bias(rows, pairs), position_split(pairs)
    lines = []
    if bias.both_orders:
        lines.append(f"- Position bias: swapping the order changed the verdict on {bias.flips} of "
                     f"{bias.both_orders} prompt × pair items ({bias.flips / bias.both_orders:.0%}).")
    if bias.first_rate is not None:
        lines.append(f"- The answer shown first won {bias.first_wins} of {bias.decisive} single-order verdicts that "
                     f"picked a side ({fmt(bias.first_rate.rate)} [{fmt(bias.first_rate.low)}, "
                     f"{fmt(bias.first_rate.high)}]; 0.5 is no preference).")
    if not split.n:
        return lines
    counts = split.counts()
    lines += ["", f"Position consistency over the {split.n} items judged in both orders (as MT-Bench reports it; "
              f"single-order verdicts, before either rule):", "", "| items | n | share [95% CI] |", "|---|---|---|"]
    for label, name in (("consistent (same verdict in both orders)", "consistent"),
                        ("picked the answer shown first in both orders", "first_both"),
                        ("picked the answer shown second in both orders", "second_both"),
                        ("inconsistent otherwise (a tie in one order only)", "other")):
        lines.append(f"| {label} | {counts[name]} | {interval(getattr(split, name))} |")
    return lines


def judge_agreement_section(groups: dict[tuple[str, str], tuple[str, dict[str, list]]]) -> list[str]:
    """groups: (judge, prompt set) → (the judge's own rule, its pairs by rule). Every two judges of a prompt set."""
    lines = []
    names = list(groups)
    for x in range(len(names)):
        for y in range(x + 1, len(names)):
            (judge_1, set_1), (judge_2, set_2) = names[x], names[y]
            if set_1 != set_2:
                continue
            (rule_1, rules_1), (rule_2, rules_2) = groups[names[x]], groups[names[y]]
            lines.append(f"| `{judge_1}` ({rule_1}) vs `{judge_2}` ({rule_2}) | {set_1} | "
                         f"{agreement_cells(rules_1[rule_1], rules_2[rule_2])} |")
            if (rule_1, rule_2) != (DEFAULT_RULE, DEFAULT_RULE):
                lines.append(f"| `{judge_1}` ({DEFAULT_RULE}) vs `{judge_2}` ({DEFAULT_RULE}) | {set_1} | "
                             f"{agreement_cells(rules_1[DEFAULT_RULE], rules_2[DEFAULT_RULE])} |")
    if not lines:
        return []
    return ["### Judge–judge agreement", "",
            "The final verdicts of two judges on the same prompt × pair items, each under its own rule and both "
            "under the strict rule. Agreement is not accuracy: two weak judges can share a bias and agree on it; "
            "human votes (`evalkit vote`) or a strong judge are the check.", "",
            "| judges | prompt set | with ties: agreeing / n, share [95% CI], κ | without ties |", "|---|---|---|---|",
            *lines, ""]
