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


def judge_style_lines(store: Store, rule: str, pairs: list[JudgedPair], plain: tuple[list[Rating], bool] | None,
                      seed: int) -> list[str]:
    """Lines under the judge's ratings table, for the judge's own position rule; [] without ratings.
    plain: (the plain ratings, whether they needed a virtual tie per pair)."""
    if plain is None:
        return []
    plain, with_prior = plain
    lines = [f"Style-controlled ratings ({rule} rule):", ""]
    try:
        style = style_ratings(store, pairs, BOOTSTRAP_ROUNDS, seed)
    except (MissingAnswersError, BattleError) as err:
        return lines + [f"Not shown: {err}.", ""]
    prior_note = (" The plain fit needed a virtual tie per pair and this one keeps Arena's L2 penalty instead: the "
                  "“change” column holds that difference too." if with_prior else "")
    lines += [rows.style_line(style) + prior_note, ""] + markdown_table(rows.style_table(plain, style, min_battles=0))
    return lines + [""] + markdown_table(rows.coefficient_table(style)) + [""]
