"""Pairwise LLM-as-judge: every pair of answers judged in both orders, verdicts stored and counted.

    prompts.py   judges/*.toml: the judge prompts as data (FastChat's pairwise templates)
    methods.py   how a verdict is read: generated text, verdict-token probabilities, a reward model
    reward.py    the reward-model judge
    run.py       one judging pass: answers where missing, then every missing judgment (cached)
    verdicts.py  the stored judgments and the both-orders rule
    stats.py     win rates, length control, position bias, ratings from the verdicts
    settings.py  a [judges.NAME] table's method and position rule checked against the registries
    cli.py       `evalkit judge`

The leaderboard section built from these lives in evalkit/report/judge.py.
"""

from evalkit.judge.run import JudgeSummary, check_judges, judge_suite, run_judge
from evalkit.judge.verdicts import JudgedPair, judged_pairs, judgment_rows

__all__ = ["JudgeSummary", "JudgedPair", "check_judges", "judge_suite", "judged_pairs", "judgment_rows", "run_judge"]
