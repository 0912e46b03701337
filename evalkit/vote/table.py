"""`evalkit ratings` in the terminal: the vote summary as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from evalkit.vote import rows
from evalkit.vote.analysis import VoteSummary


def _rich(title: str, table: rows.Table, numeric_from: int = 1) -> Table:
    header, body = table
    rendered = Table(title=title, title_justify="left")
    for k, name in enumerate(header):
        rendered.add_column(name, justify="right" if k >= numeric_from else "left")
    for row in body:
        rendered.add_row(*row)
    return rendered


def print_summary(summary: VoteSummary, console: Console) -> None:
    console.print(rows.counts_line(summary))
    ratings = _rich("Ratings from human votes (best first)", rows.ratings_table(summary), numeric_from=2)
    console.print(ratings)
    console.print(_rich("Win rate, row model against column model", rows.win_rate_table(summary)))
    if summary.style is not None:
        console.print(_rich("Style-controlled ratings (best first)",
                            rows.style_table(summary.bradley_terry, summary.style), numeric_from=2))
        console.print(_rich("Style coefficients", rows.coefficient_table(summary.style)))
        console.print(f"[dim]{rows.style_line(summary.style)}[/]", highlight=False)
    agreement = rows.agreement_table(summary)
    if agreement is not None:
        console.print(_rich("Agreement", agreement))
    for note in summary.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
