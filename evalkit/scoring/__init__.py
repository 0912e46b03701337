"""Pure functions: answer extractors and reference metrics (metrics.py), and the statistics every
number on the leaderboard carries: intervals, paired tests, pass@k (stats.py)."""
