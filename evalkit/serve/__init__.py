"""`evalkit serve`: any configured model behind an OpenAI-compatible HTTP API.

    server.py   the HTTP server and the model service behind it
    scoring.py  echo + logprobs replies in the shape OpenAI-compatible scoring clients read
    cli.py      `evalkit serve`
"""
