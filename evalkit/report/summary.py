"""The terminal summary at the end of a run: the leaderboard's main table, as a rich table, and its
health flags, so a degenerate result is seen without opening the report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

LOG_WIDTH = 10_000  # a log (not a terminal) has no width: rows and flags stay whole, one line each

from evalkit.report import leaderboard as report
from evalkit.report.board import one_run


def print_summary(store, run_id: int, console) -> None:
    run = store.run(run_id)
    rows = store.results(run_id)
    results = {(r["model"], r["task"], r["metric"]): r for r in rows}
    columns = [(t, m) for t, metrics in report.primary_metrics(run, rows).items() for m in metrics]
    table = Table(title=f"run {run_id}", show_lines=False)
    table.add_column("model", style="bold")
    for task, metric in columns:
        table.add_column(f"{task}\n{metric}", justify="right")
    for model in report.model_order(run):
        table.add_row(model, *[report.cell(results[(model, t, m)]) if (model, t, m) in results else "–"
                               for t, m in columns])
    if not console.is_terminal:  # rich lays a non-terminal out at 80 columns: cells and flags would wrap
        console = Console(file=console.file, width=LOG_WIDTH, no_color=console.no_color)
    console.print(table)
    for health in report.board_health(store, one_run(store, run_id)):
        for flag in health.flags:
            console.print(f"[yellow]⚠ {health.model} · {health.task}:[/] {flag}", highlight=False)
