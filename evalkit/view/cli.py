"""`evalkit view`: the store's runs, items, diffs and verdicts in a browser (or as a static bundle),
and the web voting page."""

from __future__ import annotations

import socket
from pathlib import Path

from evalkit.errors import EvalkitError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def make_parser(commands) -> None:
    view = commands.add_parser("view", help="browse runs, samples and model-against-model diffs in a browser")
    view.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine "
                                                           "only; 0.0.0.0 opens the pages to the network)")
    view.add_argument("--port", type=int, default=8765, help="port (default: %(default)s; 0 picks a free one)")
    view.add_argument("--bundle", metavar="DIR", help="write the pages as static files into DIR instead of serving")
    view.add_argument("--votes", action="store_true",
                      help="also serve the voting page to annotators with a link (see --add-annotator)")
    view.add_argument("--prompt-set", help="with --votes: vote only on this prompt set (default: all)")
    view.add_argument("--add-annotator", metavar="NAME",
                      help="make a voting link for NAME (a new one replaces the old) and print it; serves nothing")
    view.set_defaults(handler=cmd_view)


def existing_store(config_store: Path) -> Path:
    if not config_store.is_file():
        raise EvalkitError(f"no store at {config_store}: nothing to view yet; run `evalkit run` first, or point "
                           "[project] store in evalkit.toml (or --config) at an existing store")
    return config_store


def cmd_view(args) -> int:
    from evalkit.config import load_config
    from evalkit.serve.cli import check_address
    from evalkit.store import Store
    from evalkit.view import annotators

    config = load_config(args.config)
    path = existing_store(Path(config.store))
    if args.add_annotator is not None:
        Store(path)  # a store this evalkit cannot read is refused before a link is made for it
        token = annotators.add(path, args.add_annotator)
        host = "localhost" if args.host in LOCAL_HOSTS else args.host
        if host in ("0.0.0.0", "::"):  # every address of this machine: name it as others reach it
            host = socket.getfqdn()
        print(f"voting link for {args.add_annotator.strip()} (send it to them only; it works while "
              f"`evalkit view --votes` runs):\n  http://{host}:{args.port}/vote?token={token}")
        return 0
    store = Store(path)
    if args.bundle:
        from evalkit.view.bundle import write_bundle

        written = write_bundle(store, Path(args.bundle))
        print(f"{written.pages} pages, {written.bytes / 1024:.0f} KiB → {args.bundle}/index.html")
        return 0
    check_address(args.host, args.port)
    serve(store, path, args.host, args.port, args.votes, args.prompt_set, config.seed)
    return 0


def serve(store, path: Path, host: str, port: int, votes: bool, prompt_set: str | None, seed: int) -> None:
    from evalkit.view import annotators
    from evalkit.view.app import build_app
    from evalkit.view.server import Server

    server = Server(build_app(store, path, votes=votes, prompt_set=prompt_set, seed=seed), host, port).start()
    print(f"evalkit view of {path} at {server.url} — Ctrl-C stops.", flush=True)
    if votes:
        named = annotators.names(path)
        print(f"voting page on for {len(named)} annotator{'s' if len(named) != 1 else ''} "
              f"({', '.join(named) or 'none yet: add one with --add-annotator NAME'})", flush=True)
    if host not in LOCAL_HOSTS:
        print(f"note: listening on {host}: anyone who can reach this machine can read every prompt, answer and "
              "verdict in the store" + (", and vote with a valid link" if votes else ""), flush=True)
    server.wait()
