"""`evalkit serve`: any configured model behind an OpenAI-compatible HTTP API.

    schema.py   request bodies, validated as the OpenAI API and vLLM validate them
    service.py  what each endpoint computes over the loaded backend
    engine.py   the one thread that owns the model; concurrent requests share its batches
    scoring.py  token-level decoding with log-probabilities (echo scoring: prompt + exactly max_tokens)
    replies.py  reply bodies and stream chunks in the API's shapes
    app.py      the ASGI app: routes, API key, request-size limit, server-sent events
    server.py   uvicorn, in the foreground or on a thread
    cli.py      `evalkit serve`
"""
