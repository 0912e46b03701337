"""The store → reports/leaderboard.md. A pure function of the store: no model runs here.

Every number carries its n and 95% interval; differences between models on the
same items are tested paired (the task kind says how), so nobody ranks noise.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.kinds import KINDS, TaskKind
from evalkit.report.format import cell, fmt
from evalkit.report.frames import comparison_rows, comparisons_frame
from evalkit.report.judge import judge_section
from evalkit.report.lineage import lineage_section
from evalkit.report.votes import human_votes_section
from evalkit.store import Store

Section = Callable[[Store, dict[str, Any], Path], list[str]]

# Feature sections render from their own tables: function(store, run, reports_dir) -> markdown
# lines, empty when the feature has no data yet.
SECTIONS: list[Section] = [judge_section, human_votes_section, lineage_section]


def task_kind(run: dict[str, Any], task: str) -> TaskKind:
    return KINDS[run["provenance"]["tasks"][task]["kind"]]


def primary_metrics(run: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The metrics each task shows in the main table: those its own metric rows mark primary."""
    return {task: task_kind(run, task).primary_metrics([r for r in results if r["task"] == task])
            for task in run["provenance"].get("tasks", {})}


def model_order(run: dict[str, Any]) -> list[str]:
    return list(run["config"].get("models", []))


def results_table(run: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    by_key = {(r["model"], r["task"], r["metric"]): r for r in results}
    columns = [(task, metric) for task, metrics in primary_metrics(run, results).items() for metric in metrics]
    header = ["model"]
    for task, metric in columns:
        ns = {by_key[(m, task, metric)]["n"] for m in model_order(run) if (m, task, metric) in by_key}
        arrow = "↑" if _higher_is_better(by_key, task, metric) else "↓"
        header.append(f"{task} · {metric} {arrow} (n={'/'.join(str(n) for n in sorted(ns))})")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in model_order(run):
        row = [f"**{model}**"] + [cell(by_key[(model, t, m)]) if (model, t, m) in by_key else "not run"
                                  for t, m in columns]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _higher_is_better(by_key, task, metric) -> bool:
    for (m, t, name), result in by_key.items():
        if t == task and name == metric:
            return bool(result["info"].get("higher_is_better", True))
    return True


def comparison_pairs(models: list[str]) -> list[tuple[str, str]]:
    """Each model against the one before it (sft vs base, dpo vs sft), and against the first."""
    pairs = [(models[i], models[i - 1]) for i in range(1, len(models))]
    pairs += [(m, models[0]) for m in models[2:]]
    return pairs


def comparisons(store: Store, run: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    pairs = comparison_pairs(model_order(run))
    if not pairs:
        return []
    frame = comparisons_frame(comparison_rows(store, run, primary_metrics(run, results), pairs))
    lines = ["| task · metric | comparison | difference [95% CI] | p | test | n |", "|---|---|---|---|---|---|"]
    for row in frame.itertuples(index=False):
        p = f"{row.p_value:.3g}" + (" *" if row.p_value < 0.05 else "")
        arrow = "↑" if row.higher_is_better else "↓"
        lines.append(f"| {row.task} · {row.metric} {arrow} | {row.model_a} − {row.model_b} | {fmt(row.diff)} "
                     f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}] | {p} | {row.test} | {row.n} |")
    return lines


def provenance_section(run: dict[str, Any]) -> list[str]:
    info = run["provenance"]
    git = info.get("git", {})
    lines = [f"- evalkit {info.get('evalkit')} · git {str(git.get('commit'))[:10]}"
             f"{' (dirty)' if git.get('dirty') else ''} · seed {info.get('seed')} · suite `{info.get('suite')}`",
             f"- environment: {_inline(info.get('environment', {}))}",
             f"- packages: {_inline(info.get('packages', {}))}", "", "| model | fingerprint | source | dtype | quantization |",
             "|---|---|---|---|---|"]
    for name, model in info.get("models", {}).items():
        spec = model["spec"]
        lines.append(f"| {name} | `{model['fingerprint']}` | {spec['source'] or spec.get('recipe')} | {spec['dtype']} "
                     f"| {spec['quantization']} |")
    lines += ["", "| task | version | kind | samples | data | data hash | options |", "|---|---|---|---|---|---|---|"]
    for name, task in info.get("tasks", {}).items():
        options = {k: v for k, v in task["options"].items() if v not in (None, [], (), {})}
        lines.append(f"| {name} | {task['version']} | {task['kind']} | {task['n_samples']} | {task['data_origin']} "
                     f"| `{task['data_hash']}` | {_inline(options) or 'all'} |")
    timings = info.get("timings_s", {})
    if timings:
        lines += ["", f"- timings (s): {_inline(timings)}"]
    return lines


def _inline(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items())


def details(run: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    lines = []
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        by_task[result["task"]].append(result)
    for task, rows in by_task.items():
        lines += [f"### {task}", "", "| model | metric | value [95% CI] | n | interval |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['model']} | {r['metric']} | {cell(r)} | {r['n']} | {r['info'].get('interval', '')} |")
        lines.append("")
    return lines


def render(store: Store, run_id: int | None = None, reports_dir: Path = Path("reports")) -> str:
    run = store.run(run_id)
    if run is None:
        raise LookupError("no finished run in the store yet; run `evalkit run` first")
    results = store.results(run["id"])
    when = dt.datetime.fromtimestamp(run["finished"] or run["started"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# evalkit leaderboard", "",
             f"Run {run['id']} · {when} · models: {', '.join(model_order(run))}. Each cell: value [95% interval]; "
             "n in the column header. Generated by `evalkit report` from the store; do not edit.", "",
             "## Results", ""]
    lines += results_table(run, results)
    compared = comparisons(store, run, results)
    if compared:
        lines += ["", "## Paired comparisons", "",
                  "Same items for both models; `*` marks p < 0.05. A difference whose interval contains 0 is not "
                  "evidence that one model is better.", ""] + compared
    for section in SECTIONS:
        extra = section(store, run, reports_dir)
        if extra:
            lines += [""] + extra
    lines += ["", "## All metrics", ""] + details(run, results)
    lines += ["## Provenance", ""] + provenance_section(run)
    return "\n".join(lines) + "\n"


def write(store: Store, reports_dir: Path, run_id: int | None = None) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "leaderboard.md"
    path.write_text(render(store, run_id, reports_dir), encoding="utf-8")
    return path
