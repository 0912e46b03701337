"""What a person reads: the leaderboard (a pure function of the store), its sections, plots, and the
tables printed when a run is done (what it shows while it works is evalkit/progress).

    leaderboard.py  reports/leaderboard.md: results with n and intervals, paired comparisons, provenance
    judge.py        the LLM-judge section       votes.py    the human-votes section
    lineage.py      the training-lineage section
    plots.py        PNG plots (matplotlib)      summary.py  the table printed after `evalkit run`
    cli.py          `evalkit report`, `evalkit export`, `evalkit runs`
"""
