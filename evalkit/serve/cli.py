"""`evalkit serve --model NAME`: a configured model behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

import os
import socket
from dataclasses import replace

from evalkit.errors import ConfigError

API_KEY_ENV = "EVALKIT_API_KEY"


def make_parser(commands) -> None:
    serve = commands.add_parser("serve", help="serve a model behind an OpenAI-compatible HTTP API")
    serve.add_argument("--model", required=True, help="a model name from the config, or a source (folder, .gguf, "
                                                       "hub id, embedded:...) as `run --models` takes")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    serve.add_argument("--api-key", default=None,
                       help=f"require `Authorization: Bearer KEY` on /v1 (default: ${API_KEY_ENV}, else none)")
    serve.add_argument("--max-request-bytes", type=int, default=16 * 2**20,
                       help="refuse request bodies over this size with 413 (default: %(default)s)")
    serve.add_argument("--workers", default="1",
                       help="processes that each hold a copy of a CPU model and share the requests: a count, or "
                            "auto (one per core on a CPU, one on a GPU); more keep more speed beside other busy "
                            "programs and cost some when the machine is quiet (default: %(default)s)")
    serve.add_argument("--backend", choices=("auto", "hf", "vllm"), default="auto",
                       help="the engine that runs a local model: vllm (vLLM's), hf (evalkit's own, on transformers), "
                            "or auto: vLLM's where it is installed and can run the model here (it keeps more of "
                            "its speed beside other busy programs: bench/RESULTS.md), else the model's own "
                            "backend setting (default: %(default)s)")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args) -> int:
    # Imported here, not at the top: uvicorn, FastAPI and torch cost seconds that `evalkit --help` should not pay.
    from evalkit.models.entries import select_models
    from evalkit.models.handle import ModelHandle
    from evalkit.models.sources import ResolvedModel, fingerprint
    from evalkit.models.local_pool import parse_workers
    from evalkit.serve.server import Server
    from evalkit.serve.service import ModelService
    from evalkit.project import open_project
    from evalkit.train import prepare_model

    if args.max_request_bytes < 1024:
        raise ConfigError(f"--max-request-bytes {args.max_request_bytes} is too small; give at least 1024")
    check_address(args.host, args.port)  # before the model loads: a busy port should cost seconds, not minutes
    workers = parse_workers(args.workers)
    config, store = open_project(args.config)
    config, (name,) = select_models(config, args.model)  # a configured name, or a source as `run --models` takes
    args.model = name
    handle = prepare_model(config, name, store)
    if handle.folder is None:
        raise ConfigError(f"model {args.model!r} is already an endpoint ({handle.spec.source}); serve a local model")
    backend, why = serving_backend(handle, args.backend, workers)
    if backend == "vllm":
        serve_like_vllms_server()
    if backend != handle.spec.backend:  # the same folder; the fingerprint names the engine
        spec = replace(handle.spec, backend=backend)
        handle = ModelHandle(spec, handle.folder, fingerprint(spec, ResolvedModel(handle.folder, spec.source), store))
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    engine = start_engine(handle, args.workers)
    service = ModelService(engine.backend, args.model, engine)
    server = Server(service, args.host, args.port, api_key, args.max_request_bytes)
    print(f"serving {args.model} (fingerprint {handle.fingerprint}) at {server.url} on {engine.describe()} "
          f"— models, completions (echo + logprobs), chat completions, streaming. Ctrl-C stops.", flush=True)
    print(f"engine: {ENGINES[backend]} ({why})", flush=True)
    if api_key is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening beyond this machine with no API key; set --api-key or ${API_KEY_ENV}", flush=True)
    server.serve_in_foreground()
    return 0


ENGINES = {"hf": "evalkit's own, on transformers", "vllm": "vLLM's"}


def serving_backend(handle, asked: str, workers: int | None = 1) -> tuple[str, str]:
    """The backend `--backend` picks for the served model, and why, for the start-up line."""
    if asked != "auto":
        return asked, f"--backend {asked}"
    if handle.spec.backend != "hf":
        return handle.spec.backend, f"models.{handle.spec.name}.backend"
    if workers is None or workers > 1:  # worker processes are evalkit's own engine's
        return "hf", "--backend auto with --workers: evalkit's own engine runs the worker processes"
    from evalkit.backends.vllm import why_not

    reason = why_not(replace(handle.spec, backend="vllm"), handle.folder)
    if reason is None:
        return "vllm", "--backend auto: vLLM is installed and can run this model; --backend hf for evalkit's own"
    return "hf", f"--backend auto: {reason[0].lower()}{reason[1:]}"


def serve_like_vllms_server() -> None:
    """vLLM's engine as vLLM's own server runs it (unless set otherwise): compiled at start-up, which a server
    pays back, and on a CPU its server's token budget per step (backends/vllm.py says why)."""
    import torch

    from evalkit.backends import vllm

    os.environ.setdefault("EVALKIT_VLLM_EAGER", "0")
    if not torch.cuda.is_available():
        os.environ.setdefault(vllm.BATCHED_TOKENS_ENV, str(vllm.SERVER_BATCHED_TOKENS_ON_CPU))


def start_engine(handle, asked: str):
    """The serving process's Engine, with its model on this thread, and `--workers` processes beside it
    (evalkit/serve/workers.py), each loading its copy while this process loads its own."""
    import torch

    from evalkit.serve.engine import Engine
    from evalkit.models.local_pool import threads_per_worker, worker_count
    from evalkit.serve.workers import WorkerPool, start_workers

    count = worker_count(asked, handle.spec, torch.cuda.is_available())
    if count == 1:
        return Engine(handle.backend(), own_thread=False)
    threads = threads_per_worker(count)
    remotes = start_workers(count, handle.spec, handle.folder, threads)
    try:
        torch.set_num_threads(threads)
        local = Engine(handle.backend(), own_thread=False)
        for remote in remotes:
            remote.wait_ready()
    except BaseException:
        for remote in remotes:
            remote.close()
        raise
    return WorkerPool(local, remotes)


def check_address(host: str, port: int) -> None:
    """The port is in range and free on `host`, or one line says which and what to do."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is out of range; give 0..65535 (0 picks a free port)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror}); stop what holds the port, or pass "
                              f"another --port (0 picks a free one)") from None
