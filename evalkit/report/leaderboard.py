"""The store → reports/leaderboard.md. A pure function of the store: no model runs here.

Every number carries its n and 95% interval; differences between models on the
same items are tested paired (the task kind says how), so nobody ranks noise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evalkit.kinds import KINDS, TaskKind
from evalkit.report import health
from evalkit.report.board import Board, build, when
from evalkit.report.format import cell, fmt, p_text
from evalkit.report.format_section import chosen_format_notes, format_section
from evalkit.report.frames import ALPHA, comparison_rows, comparisons_frame, results_frame
from evalkit.report.judge import judge_section
from evalkit.report.lineage import lineage_section, run_heldout_measures
from evalkit.report.notes import measures_section
from evalkit.report.slice_section import slices_section
from evalkit.report.verdict import verdict_section
from evalkit.report.votes import human_votes_section
from evalkit.store import Store
from evalkit.types import shown_path

Section = Callable[[Store, dict[str, Any], Path], list[str]]

# Feature sections render from their own tables: function(store, run, reports_dir) -> markdown
# lines, empty when the feature has no data yet.
SECTIONS: list[Section] = [judge_section, human_votes_section, lineage_section]


def task_kind(run: dict[str, Any], task: str) -> TaskKind:
    return KINDS[run["provenance"]["tasks"][task]["kind"]]


def primary_metrics(run: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The metrics each task shows in the main table: those its own metric rows mark primary. A task in
    another prompt format (`task@format`) is left to the Format sensitivity section."""
    return {task: task_kind(run, task).primary_metrics([r for r in results if r["task"] == task])
            for task, info in run["provenance"].get("tasks", {}).items() if "format_of" not in info}


def model_order(run: dict[str, Any]) -> list[str]:
    return list(run["config"].get("models", []))


def results_table(board: Board) -> list[str]:
    run, results = board.as_run(), board.results
    by_key = {(r["model"], r["task"], r["metric"]): r for r in results}
    columns = [(task, metric) for task, metrics in primary_metrics(run, results).items() for metric in metrics]
    header = ["model"]
    for task, metric in columns:
        shown = [by_key[(m, task, metric)] for m in board.models if (m, task, metric) in by_key]
        ns = "/".join(str(n) for n in sorted({r["n"] for r in shown}))
        arrow = "↑" if _higher_is_better(by_key, task, metric) else "↓"
        header.append(f"{task} · {metric} {arrow} (n={ns}{_runs_note(board, shown)})")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in board.models:
        row = [f"**{model}**"]
        for task, metric in columns:
            result = by_key.get((model, task, metric))
            mixed = len({by_key[(m, task, metric)]["run"] for m in board.models if (m, task, metric) in by_key}) > 1
            row.append("not run" if result is None else cell(result) + (f" (run {result['run']})" if mixed else ""))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _higher_is_better(by_key, task, metric) -> bool:
    for (m, t, name), result in by_key.items():
        if t == task and name == metric:
            return bool(result["info"].get("higher_is_better", True))
    return True


def _runs_note(board: Board, shown: list[dict[str, Any]]) -> str:
    if board.single_run:
        return ""
    runs = sorted({r["run"] for r in shown})
    return f", run{'s' if len(runs) > 1 else ''} {'/'.join(str(r) for r in runs)}"


def comparison_pairs(models: list[str], parents: dict[str, str | None] | None = None) -> list[tuple[str, str]]:
    """Each model against the one before it (sft vs base, dpo vs sft), and against the first; and against its
    configured parent where that is neither (the verdict reads each candidate against its parent)."""
    pairs = [(models[i], models[i - 1]) for i in range(1, len(models))]
    pairs += [(m, models[0]) for m in models[2:]]
    for model, parent in (parents or {}).items():
        if model in models and parent in models and parent != model and (model, parent) not in pairs:
            pairs.append((model, parent))
    return pairs


def configured_parents(board: Board) -> dict[str, str | None]:
    models = board.as_run()["provenance"].get("models", {})
    return {name: (info.get("spec") or {}).get("parent") for name, info in models.items()}


def comparison_frame(store: Store, board: Board):
    """Every paired comparison of the main metrics, with Benjamini–Hochberg adjusted p over all of them."""
    run = board.as_run()
    pairs = comparison_pairs(board.models, configured_parents(board))
    rows = comparison_rows(store, run, primary_metrics(run, board.results), pairs,
                           records=lambda model, task: board.records(store, model, task),
                           comparable=board.same_items) if pairs else []
    return comparisons_frame(rows)


def comparisons(frame) -> list[str]:
    if frame.empty:
        return []
    lines = ["| task · metric | comparison | difference [95% CI] | p | p (BH-adjusted) | test | n |",
             "|---|---|---|---|---|---|---|"]
    for row in frame.itertuples(index=False):
        adjusted = p_text(row.p_adjusted, row.p_resolution, bound=row.p_value <= row.p_resolution)
        star = " *" if row.p_adjusted < ALPHA else ""
        arrow = "↑" if row.higher_is_better else "↓"
        lines.append(f"| {row.task} · {row.metric} {arrow} | {row.model_a} − {row.model_b} | {fmt(row.diff)} "
                     f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}] | {p_text(row.p_value, row.p_resolution)} | "
                     f"{adjusted}{star} | {row.test} | {row.n} |")
    return lines


def comparisons_intro(n_tests: int) -> str:
    return (f"Same items for both models. `*` marks p < {ALPHA} after the Benjamini–Hochberg correction over the "
            f"{n_tests} comparison{'s' if n_tests != 1 else ''} in this table (false discovery rate {ALPHA:.0%}); "
            "the raw p is beside it. A bootstrap of R rounds cannot resolve p below 1/R, shown as "
            "\"< 1/R\". A difference whose interval contains 0 is not evidence that one model is better.")


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
        source = shown_path(spec["source"] or spec.get("recipe"))
        lines.append(f"| {name} | `{model['fingerprint']}` | {source} | {spec['dtype']} | {spec['quantization']} |")
    lines += ["", "| task | version | kind | samples | data | data hash | options |", "|---|---|---|---|---|---|---|"]
    for name, task in info.get("tasks", {}).items():
        options = {k: v for k, v in task["options"].items() if v not in (None, [], (), {})}
        origin = shown_path(task["data_origin"])
        lines.append(f"| {name} | {task['version']} | {task['kind']} | {task['n_samples']} | {origin} "
                     f"| `{task['data_hash']}` | {_inline(options) or 'all'} |")
    timings = info.get("timings_s", {})
    if timings:
        lines += ["", f"- timings (s): {_inline(timings)}"]
    return lines


def _inline(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items())


def details(board: Board) -> list[str]:
    lines = []
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in board.results:
        by_task[result["task"]].append(result)
    run_column = not board.single_run
    for task, rows in by_task.items():
        lines += [f"### {task}", "", "| model | metric | value [95% CI] | n | interval |" + (" run |" if run_column else ""),
                  "|---|---|---|---|---|" + ("---|" if run_column else "")]
        for r in rows:
            lines.append(f"| {r['model']} | {r['metric']} | {cell(r)} | {r['n']} | {r['info'].get('interval', '')} |"
                         + (f" {r['run']} |" if run_column else ""))
        lines.append("")
    return lines


def provenance(board: Board) -> list[str]:
    if board.single_run:
        return provenance_section(board.latest)
    lines = []
    for run_id, run in board.runs.items():
        lines += [f"### Run {run_id} · {when(run)} · suite `{run['provenance'].get('suite')}`", ""]
        lines += provenance_section(run) + [""]
    return lines[:-1]


def header(board: Board) -> str:
    if board.single_run:
        run = board.latest
        return (f"Run {run['id']} · {when(run)} · models: {', '.join(board.models)}. Each cell: value [95% interval]; "
                "n in the column header.")
    runs = "; ".join(f"run {run_id} ({when(run)}, suite `{run['provenance'].get('suite')}`)"
                     for run_id, run in board.runs.items())
    return (f"The latest finished result of each model × task in the store, from {runs} · models: "
            f"{', '.join(board.models)}. Each cell: value [95% interval]; n and run in the column header. "
            "`evalkit report --run N` shows one run alone.")


def verdict(frame, board: Board, found: list[health.Health]) -> list[str]:
    flags = {(h.model, h.task): h.flags for h in found if h.flags}
    return verdict_section(frame, results_frame(board.as_run(), board.results), board.models,
                           configured_parents(board), flags)


def board_health(store: Store, board: Board) -> list[health.Health]:
    run = board.as_run()
    specs = {name: model.get("spec", {}) for name, model in run["provenance"].get("models", {}).items()}
    kinds = {task: info["kind"] for task, info in run["provenance"].get("tasks", {}).items()
             if any(r["task"] == task for r in board.results)}
    return health.checks(board.models, kinds, lambda model, task: board.records(store, model, task), specs)


def render(store: Store, run_id: int | None = None, reports_dir: Path = Path("reports"),
           slice_by: Sequence[str] = ()) -> str:
    """The leaderboard of one run (`run_id`), or of the latest result of each model × task in the store;
    with a Slices section for the tasks' declared slices and the `slice_by` fields (slice_section.py)."""
    board = build(store, run_id)
    sliced = slices_section(store, board, primary_metrics(board.as_run(), board.results),
                            comparison_pairs(board.models), list(slice_by), reports_dir)  # fails before writing
    found = board_health(store, board)
    frame = comparison_frame(store, board)
    lines = ["# evalkit leaderboard", "", header(board) + " Generated by `evalkit report` from the store; do not edit.",
             ""] + health.flags_lines(found)
    judged = verdict(frame, board, found)
    lines += ([""] + judged if judged else []) + ["", "## Results", ""]
    lines += results_table(board)
    chosen = chosen_format_notes(board)
    if chosen:
        lines += [""] + chosen
    checked = health.health_section(found)
    if checked:
        lines += [""] + checked[:-1]
    compared = comparisons(frame)
    if compared:
        lines += ["", "## Paired comparisons", "", comparisons_intro(len(compared) - 2), ""] + compared
    measured = measures_section([r["metric"] for r in board.results], run_heldout_measures(store, board.as_run()))
    if measured:
        lines += [""] + measured
    if sliced:
        lines += [""] + sliced
    formatted = format_section(store, board, comparison_pairs(board.models))
    if formatted:
        lines += [""] + formatted
    for section in SECTIONS:
        extra = section(store, board.as_run(), reports_dir)
        if extra:
            lines += [""] + extra
    lines += ["", "## All metrics", ""] + details(board)
    lines += ["## Provenance", ""] + provenance(board)
    return "\n".join(lines) + "\n"


def write(store: Store, reports_dir: Path, run_id: int | None = None, slice_by: Sequence[str] = ()) -> Path:
    """reports/leaderboard.md: one run's (`run_id`), or the latest result of each model × task in the store."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "leaderboard.md"
    text = render(store, run_id, reports_dir, slice_by)
    path.write_text(text, encoding="utf-8")
    return path
