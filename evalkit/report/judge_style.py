"""The judge section's style-controlled ratings: the same verdicts, fitted with the answers' length
and markdown as covariates (evalkit.ratings.style), beside the plain Bradley–Terry ratings."""

from __future__ import annotations

from evalkit.answers import MissingAnswersError
from evalkit.judge.stats import style_ratings
from evalkit.judge.verdicts import JudgedPair
from evalkit.ratings import BattleError, Rating
from evalkit.report.votes import markdown_table
from evalkit.store import Store
from evalkit.vote import rows

BOOTSTRAP_ROUNDS = 1000


def judge_style_lines(store: Store, rule: str, pairs: list[JudgedPair], plain: list[Rating] | None,
                      seed: int) -> list[str]:
    """Lines under the judge's ratings table, for the judge's own position rule; [] without ratings."""
    if plain is None:
        return []
    lines = [f"Style-controlled ratings ({rule} rule):", ""]
    try:
        style = style_ratings(store, pairs, BOOTSTRAP_ROUNDS, seed)
    except (MissingAnswersError, BattleError) as err:
        return lines + [f"Not shown: {err}.", ""]
    lines += [rows.style_line(style), ""] + markdown_table(rows.style_table(plain, style, min_battles=0))
    return lines + [""] + markdown_table(rows.coefficient_table(style)) + [""]
