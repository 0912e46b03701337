"""`evalkit view`: a run's leaderboard, items and model-against-model diffs in a browser, the judge's
verdicts in both orders, and the web voting page; or the same pages as a static bundle.

    queries.py     paged, filtered SQL over the per-sample records (a page never holds more than one page)
    site.py        the runs and run pages; the lookups that turn a bad URL into a clear page
    items.py       the samples and diff pages, with the report's own statistics recomputed per filter
    verdicts.py    the judge's verdicts and one pair in both orders with its human votes
    answers.py     two models' answers to a prompt set side by side, with verdicts and votes per prompt
    spans.py       two texts with their differing spans marked
    voting.py      the web voting page over evalkit.vote's pairs and votes table
    annotators.py  the annotators' tokens
    app.py         the FastAPI app       server.py   uvicorn on a thread       bundle.py   static files
    cli.py         the command

Nothing is imported here: `evalkit --help` must not pay for FastAPI; build_app is in app.py.
"""

