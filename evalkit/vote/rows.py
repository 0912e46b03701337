"""A VoteSummary as header + rows of strings, shared by the terminal table and the leaderboard
so both always show the same numbers the same way."""

from __future__ import annotations

import math

from evalkit.ratings import RANK_NOTE, Agreement, Rating
from evalkit.vote.analysis import MIN_VOTES, VoteSummary

Table = tuple[list[str], list[list[str]]]


def rating_text(rating: Rating) -> str:
    if rating.n_battles < MIN_VOTES:
        return f"too few votes ({rating.n_battles} of {MIN_VOTES})"
    if math.isnan(rating.ci_low):
        return f"{rating.rating:.0f}"
    return f"{rating.rating:.0f} [{rating.ci_low:.0f}, {rating.ci_high:.0f}]"


def rank_text(rating: Rating) -> str:
    return "–" if rating.n_battles < MIN_VOTES else str(rating.rank)


def ratings_table(summary: VoteSummary) -> Table:
    """One row per model in Bradley–Terry order; ranks only separate non-overlapping intervals."""
    elo = {r.model: r for r in summary.elo}
    header = ["rank", "model", "Bradley–Terry [95% CI]", "Elo rank", "online Elo [95% CI]", "votes"]
    rows = [[rank_text(r), r.model, rating_text(r), rank_text(elo[r.model]), rating_text(elo[r.model]),
             str(r.n_battles)] for r in summary.bradley_terry]
    return header, rows


def win_rate_table(summary: VoteSummary) -> Table:
    """Row model's win rate against the column model (ties count half), with the vote count."""
    counts, matrix = summary.counts, summary.win_matrix
    order = [r.model for r in summary.bradley_terry]
    header = ["model \\ opponent"] + order
    rows = []
    for model in order:
        i = counts.index(model)
        row = [model]
        for opponent in order:
            j = counts.index(opponent)
            wins, ties, losses = counts.between(model, opponent) if i != j else (0, 0, 0)
            n = wins + ties + losses
            row.append("–" if i == j or n == 0 else f"{matrix[i, j]:.0%} (n={n})")
        rows.append(row)
    return header, rows


def agreement_text(agreement: Agreement) -> list[str]:
    kappa = "n/a" if math.isnan(agreement.kappa) else f"{agreement.kappa:.2f}"
    return [f"{agreement.raw:.0%}", kappa, str(agreement.n), str(agreement.items)]


def agreement_table(summary: VoteSummary) -> Table | None:
    """Inter-annotator and judge–human agreement; None when neither could be computed."""
    header = ["agreement", "raw", "Cohen's κ", "label pairs", "items"]
    rows = []
    if summary.inter_annotator is not None:
        rows.append(["annotator vs annotator"] + agreement_text(summary.inter_annotator))
    for judged in summary.judge_human:
        rows.append([f"judge {judged.judge} ({judged.rule} rule) vs humans"] + agreement_text(judged.agreement))
    return (header, rows) if rows else None


def counts_line(summary: VoteSummary) -> str:
    return (f"{summary.n_votes} votes by {len(summary.annotators)} annotator"
            f"{'' if len(summary.annotators) == 1 else 's'} ({', '.join(summary.annotators)}) "
            f"on {summary.n_prompts} prompts; 95% intervals from {summary.rounds} bootstrap rounds. "
            f"Ties and “both bad” count half a win each; a model with fewer than {MIN_VOTES} votes gets no "
            f"rating or rank (too few votes). {RANK_NOTE}")
