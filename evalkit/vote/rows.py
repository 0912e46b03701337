"""A VoteSummary as header + rows of strings, shared by the terminal table and the leaderboard
so both always show the same numbers the same way."""

from __future__ import annotations

import math

from evalkit.ratings import RANK_NOTE, Agreement, Rating, StyleRatings
from evalkit.vote.analysis import MIN_VOTES, VoteSummary

Table = tuple[list[str], list[list[str]]]


def rating_text(rating: Rating, min_battles: int = MIN_VOTES) -> str:
    if rating.n_battles < min_battles:
        return f"too few votes ({rating.n_battles} of {min_battles})"
    if math.isnan(rating.ci_low):
        return f"{rating.rating:.0f}"
    return f"{rating.rating:.0f} [{rating.ci_low:.0f}, {rating.ci_high:.0f}]"


def rank_text(rating: Rating, min_battles: int = MIN_VOTES) -> str:
    return "–" if rating.n_battles < min_battles else str(rating.rank)


def ratings_table(summary: VoteSummary) -> Table:
    """One row per model in Bradley–Terry order; ranks only separate non-overlapping intervals."""
    elo = {r.model: r for r in summary.elo}
    header = ["rank", "model", "Bradley–Terry [95% CI]", "Elo rank", "online Elo [95% CI]", "votes"]
    rows = [[rank_text(r), r.model, rating_text(r), rank_text(elo[r.model]), rating_text(elo[r.model]),
             str(r.n_battles)] for r in summary.bradley_terry]
    return header, rows


def judge_ratings_table(ratings: list[Rating]) -> Table:
    header = ["rank", "model", "Bradley–Terry [95% CI]", "verdicts"]
    return header, [[str(r.rank), r.model, rating_text(r, 0), str(r.n_battles)] for r in ratings]


STYLE_TEXT = {"length": "length (characters)", "headers": "markdown headers", "lists": "list items",
              "bold": "bold spans"}


def style_table(plain: list[Rating], style: StyleRatings, min_battles: int = MIN_VOTES) -> Table:
    """The style-controlled ratings (their order and ranks) beside the plain Bradley–Terry ones."""
    by_model = {r.model: r for r in plain}
    header = ["rank", "model", "style-controlled [95% CI]", "Bradley–Terry [95% CI]", "change"]
    rows = []
    for r in style.ratings:
        before = by_model[r.model]
        change = "–" if min(r.n_battles, before.n_battles) < min_battles else f"{r.rating - before.rating:+.0f}"
        rows.append([rank_text(r, min_battles), r.model, rating_text(r, min_battles),
                     rating_text(before, min_battles), change])
    return header, rows


def style_line(style: StyleRatings) -> str:
    return ("Style control (Chatbot Arena's): Bradley–Terry fitted jointly with the two answers' differences in "
            "length and in markdown headers, list items and bold spans, each as (a−b)/(a+b+1) scaled to unit spread. "
            "The ratings are what the models would get with answers of equal style; a coefficient is the log-odds "
            "of winning that one unit of spread buys (positive: more of it wins), also shown in rating points. "
            f"95% intervals from {style.rounds} bootstrap rounds; L2 penalty {style.ridge:g} as Arena's. "
            "docs/judging.md explains." + entangled_text(style))


def entangled_text(style: StyleRatings) -> str:
    if not style.entangled:
        return ""
    names = [STYLE_TEXT[f] for f in style.entangled]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    which = "difference in {} is" if len(names) == 1 else "differences in {} are"
    return (f" ⚠ Here the {which.format(listed)} (almost) fixed by which two models meet, so these battles "
            "cannot tell that style from the models' strengths: the split between the two comes from the penalty, "
            "not the data. Prompts where the same models' answers differ in style would separate them.")


def coefficient_table(style: StyleRatings) -> Table:
    """Each style feature's coefficient: log-odds of winning per unit of spread of the feature, and
    the same in rating points. Features equal in every battle are listed as not estimable."""
    header = ["style feature", "coefficient [95% CI]", "rating points", "spread of (a−b)/(a+b+1)"]
    rows = []
    for c in style.coefficients:
        interval = "" if math.isnan(c.ci_low) else f" [{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
        rows.append([STYLE_TEXT[c.feature], f"{c.value:+.3f}{interval}", f"{c.points:+.0f}",
                     f"{style.spread[c.feature]:.3f}"])
    for feature in style.constant:
        rows.append([STYLE_TEXT[feature], "– (the same in every battle)", "–", "0"])
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
