"""`evalkit serve --model NAME`: a configured model behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

from evalkit.errors import ConfigError


def make_parser(commands) -> None:
    serve = commands.add_parser("serve", help="serve a model behind an OpenAI-compatible HTTP API")
    serve.add_argument("--model", required=True, help="model name from the config")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args) -> int:
    from evalkit.serve.server import ModelService, make_server
    from evalkit.store import open_project
    from evalkit.train import prepare_model

    config, store = open_project(args.config)
    handle = prepare_model(config, args.model, store)
    if handle.folder is None:
        raise ConfigError(f"model {args.model!r} is already an endpoint ({handle.spec.source}); serve a local model")
    service = ModelService(handle.backend(), args.model)
    server = make_server(service, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"serving {args.model} (fingerprint {handle.fingerprint}) at http://{host}:{port}/v1 "
          f"— chat completions, completions with echo+logprobs, models. Ctrl-C stops.", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: listening beyond this machine with no authentication", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
