"""`evalkit ratings` in the terminal: the vote summary as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from evalkit.vote import rows
from evalkit.vote.analysis import VoteSummary
from evalkit.vote.judged import JudgeRatings


def _rich(title: str, table: rows.Table, numeric_from: int = 1) -> Table:
    header, body = table
    rendered = Table(title=title, title_justify="left")
    for k, name in enumerate(header):
        rendered.add_column(name, justify="right" if k >= numeric_from else "left")
    for row in body:
        rendered.add_row(*row)
    return rendered


def print_style(plain, style, console: Console, min_battles: int = rows.MIN_VOTES) -> None:
    console.print(_rich("Style-controlled ratings (best first)", rows.style_table(plain, style, min_battles),
                        numeric_from=2))
    console.print(_rich("Style coefficients", rows.coefficient_table(style)))
    console.print(f"[dim]{rows.style_line(style)}[/]", highlight=False)


def print_judge_ratings(result: JudgeRatings, console: Console) -> None:
    console.print(f"judge {result.judge} · prompt set {result.prompt_set} · {result.n_verdicts} scored verdicts "
                  f"({result.rule} rule)", highlight=False)
    console.print(_rich("Judge ratings (best first)",
                        rows.judge_ratings_table(result.bradley_terry), numeric_from=2))
    if result.style is not None:
        print_style(result.bradley_terry, result.style, console, min_battles=0)
    for note in result.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)


def print_summary(summary: VoteSummary, console: Console) -> None:
    console.print(rows.counts_line(summary))
    ratings = _rich("Ratings from human votes (best first)", rows.ratings_table(summary), numeric_from=2)
    console.print(ratings)
    console.print(_rich("Win rate, row model against column model", rows.win_rate_table(summary)))
    if summary.style is not None:
        print_style(summary.bradley_terry, summary.style, console)
    agreement = rows.agreement_table(summary)
    if agreement is not None:
        console.print(_rich("Agreement", agreement))
    for note in summary.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
