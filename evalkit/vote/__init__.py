"""Human pairwise votes: the Textual voting app and the ratings built from its votes.

    votes.py     the votes table: cast, undo, read (every vote committed at once)
    sources.py   what there is to vote on: stored answers, LLM-judge verdicts
    pairs.py     which pair to show next, and in which (seeded) left/right order
    app.py       the Textual app (`evalkit vote`)
    ratings.py   votes → Elo / Bradley–Terry ratings, win rates, agreement
    table.py     those as rich tables (`evalkit ratings`)
    report.py    those as the leaderboard section, with PNG plots
    judged.py    an LLM judge's verdicts rated the same way (`evalkit ratings --judge NAME`)
    cli.py       the two command handlers

Nothing here imports torch or transformers: the app must start in well under a second.
"""
