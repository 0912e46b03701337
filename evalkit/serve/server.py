"""uvicorn around the app, on a thread: `evalkit serve` keeps the model on the main thread (engine.py
says why), tests and benchmarks keep their own."""

from __future__ import annotations

import signal
import socket
import threading
import time

import uvicorn

from evalkit.serve.app import DEFAULT_MAX_REQUEST_BYTES, make_app
from evalkit.serve.service import ModelService


class Server:
    """`evalkit serve`'s server. Port 0 picks a free one (read `.port` after `start()`)."""

    def __init__(self, service: ModelService, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.service = service
        self.socket = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.host, self.port = host, self.socket.getsockname()[1]
        config = uvicorn.Config(make_app(service, api_key, max_request_bytes), log_level="warning",
                                access_log=False, timeout_graceful_shutdown=5)
        self.uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def serve_forever(self) -> None:
        try:
            self.uvicorn.run(sockets=[self.socket])
        finally:
            self.service.engine.close()

    def serve_in_foreground(self) -> None:
        """`evalkit serve`: HTTP on a thread and the model on this one, the thread that loaded it, until
        Ctrl-C or SIGTERM. The service's engine must have been made with `own_thread=False`."""
        signal.signal(signal.SIGTERM, _interrupt)  # uvicorn off the main thread installs no handlers of its own
        self.start()
        try:
            self.service.engine.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.serve_forever, name="evalkit-serve-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
