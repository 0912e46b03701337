"""What a person reads: the leaderboard (a pure function of the store), its sections, plots, and the
terminal output of a run.

    leaderboard.py  reports/leaderboard.md: results with n and intervals, paired comparisons, provenance
    judge.py        the LLM-judge section       votes.py    the human-votes section
    lineage.py      the training-lineage section
    plots.py        PNG plots (matplotlib)      summary.py  the table printed after `evalkit run`
    console.py      progress bars and one-line errors (rich)
    cli.py          `evalkit report`, `evalkit export`, `evalkit runs`
"""
