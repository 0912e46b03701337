"""Health checks per model × task: is a number a result, or the trace of a degenerate predictor?

A model that picks option A on every question scores exactly the share of A answers; a model that
writes nothing scores 0 like one that answers everything wrong. Neither shows in an accuracy and
its interval, so the leaderboard counts, from the per-sample records:

- multiple choice: how often each option position was picked (flagged at >= 90 % one option), and
  the majority-class baseline, the accuracy of always answering the most common gold position; a task
  whose right answer sits in the same position on every item is flagged too, since a constant
  predictor scores 100 % on it;
- generation and code: the share of empty and of truncated (length-stopped) outputs and of items a
  scorer could not score, flagged when half or more are empty, or when a share differs from the
  parent's (the model it was trained from, else the one before it) on the same items by more than
  chance (McNemar's exact test, or a paired bootstrap for fractions, p < 0.05).

An lm_eval task is checked as multiple choice or as generation by what its records hold (the pick
and gold positions, or the filtered answers); its log-likelihood and rolling tasks, like perplexity,
have nothing to check.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evalkit.kinds import KINDS
from evalkit.scoring import stats

ONE_OPTION_SHARE = 0.9  # picks at or above this share on one option position are flagged
MIN_GOLD_ITEMS = 10  # a gold answer that never moves is flagged from this many items on (fewer can be chance)
EMPTY_SHARE = 0.5  # half or more empty outputs are flagged whatever the parent does
ALPHA = 0.05
OUTPUT_CHECKS = ("empty", "truncated", "unscored")
Records = Callable[[str, str], list[dict[str, Any]]]


@dataclass
class Health:
    model: str
    task: str
    checks: str  # the checks its kind's records take (TaskKind.health): "choice" or "output"
    n: int
    picks: Counter = field(default_factory=Counter)  # option position → times picked (choice tasks)
    majority_baseline: float | None = None
    accuracy: float | None = None
    shares: dict[str, list[float]] = field(default_factory=dict)  # check → per-item value (generation tasks)
    against_parent: dict[str, str] = field(default_factory=dict)  # check → "base 0/10, McNemar p = 0.03"
    flags: list[str] = field(default_factory=list)

    def count(self, check: str) -> str:
        values = self.shares[check]
        total = sum(values)
        shown = f"{total:.0f}" if float(total).is_integer() else f"{total:.1f}"
        return f"{shown}/{len(values)}"


def option_name(position: int) -> str:
    return chr(ord("A") + position) if 0 <= position < 26 else str(position)


def _choice_health(health: Health, records: list[dict[str, Any]]) -> None:
    golds: Counter = Counter()
    for record in records:
        scores = record["scores"]
        lls = scores.get("loglikelihoods") or []
        chosen = scores.get("chosen", max(range(len(lls)), key=lls.__getitem__) if lls else None)
        if chosen is not None:
            health.picks[chosen] += 1
        for position in scores.get("gold", []):  # records written before gold was kept have none
            golds[position] += 1
    if all("chosen" in r["scores"] and r["scores"].get("gold") for r in records):
        # the accuracy of the picks counted above, which follow the task's headline metric (a cloze task led
        # by acc_norm_nospace picks per character): plain acc would disagree with both picks and headline
        health.accuracy = sum(r["scores"]["chosen"] in r["scores"]["gold"] for r in records) / len(records)
    elif "acc" in records[0]["scores"]:
        health.accuracy = sum(r["scores"]["acc"] for r in records) / len(records)
    if golds:
        health.majority_baseline = golds.most_common(1)[0][1] / len(records)
    if len(golds) == 1 and len(records) >= MIN_GOLD_ITEMS:
        only = option_name(next(iter(golds)))
        health.flags.append(f"the right answer is option {only} on all {len(records)} items: always answering "
                            f"{only} would score 100%, and a pull toward one position cannot be told from accuracy "
                            "(shuffle the options: [choice].shuffle_choices)")
    top, count = health.picks.most_common(1)[0] if health.picks else (None, 0)
    if top is not None and count / len(records) >= ONE_OPTION_SHARE:
        baseline = f"; majority-class baseline {health.majority_baseline:.2f}" if golds else ""
        health.flags.append(f"picks option {option_name(top)} on {count} of {len(records)} items "
                            f"({count / len(records):.0%}){baseline}: its accuracy measures the answer key, "
                            "not the model")


def _outputs(record: dict[str, Any]) -> list[str]:
    scores = record["scores"]
    if int(scores.get("n", 1)) > 1:  # code with n samples per problem keeps them as a JSON list
        return list(json.loads(record["response"]))
    return [record["response"]]


def output_shares(record: dict[str, Any]) -> dict[str, float]:
    """Per item: the share of its outputs that are empty, truncated and unscored (0/1 for one output)."""
    scores, outputs = record["scores"], _outputs(record)
    reasons = scores.get("finish_reasons") or ([scores["finish_reason"]] if "finish_reason" in scores else [])
    if "outcomes" in scores:  # code: unscored counts completions the sandbox could not run
        unscored = scores.get("unscored", 0) / max(1, len(outputs))
    else:
        unscored = float(any(v is False for k, v in scores.items() if k.endswith("_valid")))
    return {"empty": sum(not o.strip() for o in outputs) / len(outputs),
            "truncated": sum(r == "length" for r in reasons) / max(1, len(reasons)), "unscored": unscored}


def _output_health(health: Health, records: list[dict[str, Any]]) -> None:
    per_item = [output_shares(r) for r in records]
    health.shares = {check: [item[check] for item in per_item] for check in OUTPUT_CHECKS}
    empty = health.shares["empty"]
    if sum(empty) / len(empty) >= EMPTY_SHARE:
        health.flags.append(f"{health.count('empty')} outputs are empty")


def _against_parent(child: Health, parent: Health, child_records, parent_records) -> None:
    """The child's shares against the parent's on the items both were scored on, paired."""
    position = {r["sample_id"]: i for i, r in enumerate(parent_records)}
    pairs = [(i, position[r["sample_id"]]) for i, r in enumerate(child_records) if r["sample_id"] in position]
    if not pairs:
        return
    for check in OUTPUT_CHECKS:
        a = [child.shares[check][i] for i, _ in pairs]
        b = [parent.shares[check][j] for _, j in pairs]
        result = stats.compare(a, b)
        text = f"{parent.model} {sum(b):g}/{len(b)}, {result.method} p = {result.p_value:.2g}"
        child.against_parent[check] = text
        if result.p_value < ALPHA:
            child.flags.append(f"{check} outputs {sum(a):g}/{len(a)} against {text}")


# TaskKind.health names one of these: the checks a kind's records take
HEALTH_CHECKS: dict[str, Callable[[Health, list[dict[str, Any]]], None]] = {"choice": _choice_health,
                                                                             "output": _output_health}


def check(model: str, task: str, kind: str, records: list[dict[str, Any]]) -> Health | None:
    """The health of one model × task, or None where its kind has nothing to check (perplexity)."""
    family = KINDS[kind].health_of(records) if records and kind in KINDS else None
    if family not in HEALTH_CHECKS:
        return None
    health = Health(model, task, family, len(records))
    HEALTH_CHECKS[family](health, records)
    return health


def parent_of(model: str, models: list[str], specs: dict[str, dict[str, Any]]) -> str | None:
    """The model it was trained from when that is shown too, else the one listed before it."""
    parent = (specs.get(model) or {}).get("parent")
    if parent in models and parent != model:
        return parent
    index = models.index(model)
    return models[index - 1] if index > 0 else None


def checks(models: list[str], tasks: dict[str, str], records: Records,
           specs: dict[str, dict[str, Any]]) -> list[Health]:
    """Every model × task's health; `tasks` maps a task to its kind, `records(model, task)` gives its records."""
    found: dict[tuple[str, str], Health] = {}
    for task, kind in tasks.items():
        for model in models:
            health = check(model, task, kind, records(model, task))
            if health is not None:
                found[(model, task)] = health
        for model in models:
            parent = parent_of(model, models, specs)
            child, elder = found.get((model, task)), found.get((parent, task))
            if child is not None and elder is not None and child.shares:
                _against_parent(child, elder, records(model, task), records(parent, task))
    return list(found.values())


# ------------------------------------------------------------------ rendering --


def _flag_list(found: list[Health]) -> list[str]:
    """Each flag once: one that every model of a task carries alike (a property of the task's data, as a
    gold answer that never moves) is one line for the task, not one per model."""
    models_of: dict[str, list[str]] = {}
    for h in found:
        models_of.setdefault(h.task, []).append(h.model)
    carriers: dict[tuple[str, str], list[str]] = {}
    for h in found:
        for flag in h.flags:
            carriers.setdefault((h.task, flag), []).append(h.model)
    lines = []
    for (task, flag), models in carriers.items():
        shared = len(models) > 1 and models == models_of[task]
        who = f"every model ({', '.join(models)})" if shared else None
        lines += [f"- {who} · {task}: {flag}"] if who else [f"- {m} · {task}: {flag}" for m in models]
    return lines


def flags_lines(found: list[Health]) -> list[str]:
    """The lines at the top of the report: every flag, or that there is none."""
    flagged = _flag_list(found)
    if not flagged:
        return ["**Health checks:** no flags (option picks, right-answer positions, empty, truncated and unscored "
                "outputs; see Health checks below)." if found else
                "**Health checks:** nothing to check in these tasks."]
    heading = f"**⚠ Health flags ({len(flagged)})** — numbers that may mean nothing; see Health checks below:"
    return [heading, ""] + flagged


def _picks_text(health: Health) -> str:
    total = sum(health.picks.values())
    return " · ".join(f"{option_name(p)} {c / total:.0%}" for p, c in sorted(health.picks.items())) or "–"


def _choice_rows(found: list[Health]) -> list[str]:
    rows = [h for h in found if h.checks == "choice"]
    if not rows:
        return []
    lines = ["| model | task | n | picks by option | accuracy | majority-class baseline | flag |",
             "|---|---|---|---|---|---|---|"]
    for h in rows:
        accuracy = "–" if h.accuracy is None else f"{h.accuracy:.4f}"
        baseline = "–" if h.majority_baseline is None else f"{h.majority_baseline:.4f}"
        lines.append(f"| {h.model} | {h.task} | {h.n} | {_picks_text(h)} | {accuracy} | {baseline} | "
                     f"{'⚠' if h.flags else ''} |")
    return lines + [""]


def _output_rows(found: list[Health]) -> list[str]:
    rows = [h for h in found if h.shares]
    if not rows:
        return []
    lines = ["| model | task | n | empty | truncated | unscored | flag |", "|---|---|---|---|---|---|---|"]
    for h in rows:
        cells = [h.count(c) + (f" ({h.against_parent[c]})" if c in h.against_parent else "") for c in OUTPUT_CHECKS]
        lines.append(f"| {h.model} | {h.task} | {h.n} | {' | '.join(cells)} | {'⚠' if h.flags else ''} |")
    return lines + [""]


def health_section(found: list[Health]) -> list[str]:
    if not found:
        return []
    lines = ["## Health checks", "",
             f"Multiple choice: how often each option position was picked (⚠ at ≥ {ONE_OPTION_SHARE:.0%} one "
             "option; the pick is the one the task's headline metric makes), beside the accuracy of those picks and the majority-class baseline (always answering the most common "
             f"gold position; ⚠ when the right answer sits in one position on all of {MIN_GOLD_ITEMS} or more "
             "items). Generation: outputs that are empty, stopped at the token limit (truncated) or "
             f"that a scorer could not score (⚠ at ≥ {EMPTY_SHARE:.0%} empty, or when a share differs from the "
             f"parent's on the same items, p < {ALPHA}).", ""]
    return lines + _choice_rows(found) + _output_rows(found)
