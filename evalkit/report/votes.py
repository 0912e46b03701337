"""The "Human votes" section of reports/leaderboard.md, with its two PNG plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evalkit.report.plots import plot_ratings, plot_win_matrix
from evalkit.store.db import Store
from evalkit.vote import rows
from evalkit.vote.analysis import VoteSummary, summarise

RATINGS_PNG = "human_ratings.png"
WIN_RATE_PNG = "human_win_rate.png"


def markdown_table(table: rows.Table) -> list[str]:
    header, body = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]


def write_plots(summary: VoteSummary, reports_dir: Path) -> list[str]:
    """Both PNGs next to the leaderboard; returns their file names (links are relative)."""
    plot_ratings(summary.bradley_terry, reports_dir / RATINGS_PNG,
                 title=f"Bradley–Terry ratings from {summary.n_votes} human votes")
    # Best model first, as in the tables, so the matrix reads top-left to bottom-right.
    order = [r.model for r in summary.bradley_terry]
    index = [summary.counts.index(m) for m in order]
    plot_win_matrix(summary.win_matrix[np.ix_(index, index)], order, reports_dir / WIN_RATE_PNG,
                    title="Human votes: win rate (row vs column)")
    return [RATINGS_PNG, WIN_RATE_PNG]


def style_lines(summary: VoteSummary) -> list[str]:
    """The style-controlled ratings beside the plain ones, or the one line saying why they are missing."""
    lines = ["", "### Style-controlled ratings", ""]
    if summary.style is None:
        return lines + [f"Not shown: {summary.style_note}." if summary.style_note else "Not computed."]
    lines += [rows.style_line(summary.style), ""] + markdown_table(rows.style_table(summary.bradley_terry,
                                                                                     summary.style))
    return lines + [""] + markdown_table(rows.coefficient_table(summary.style))


def human_votes_section(store: Store, run: dict[str, Any], reports_dir: Path) -> list[str]:
    """Leaderboard section (report.SECTIONS); empty when nobody has voted yet."""
    seed = int(run.get("provenance", {}).get("seed") or 0)
    summary = summarise(store, seed=seed)
    if summary is None:
        return []
    write_plots(summary, reports_dir)
    lines = ["## Human votes", "", rows.counts_line(summary) + " Ranks only separate models whose "
             "intervals do not overlap. Collected with `evalkit vote`; `evalkit ratings` prints the same tables.",
             "", f"![ratings with 95% intervals]({RATINGS_PNG})", ""]
    lines += markdown_table(rows.ratings_table(summary))
    lines += style_lines(summary)
    lines += ["", "### Win rates", "", "Row model against column model; ties count half.", ""]
    lines += markdown_table(rows.win_rate_table(summary))
    lines += ["", f"![win-rate matrix]({WIN_RATE_PNG})"]
    agreement = rows.agreement_table(summary)
    lines += ["", "### Agreement", ""]
    if agreement is not None:
        lines += ["Raw agreement and Cohen's κ over every two labels given to the same prompt and pair of "
                  "models (a label is the winning model or a tie); n counts those label pairs.", ""]
        lines += markdown_table(agreement)
    if summary.notes:
        lines += [""] + [f"- {note}" for note in summary.notes]
    return lines
