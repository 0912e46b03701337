"""uvicorn on a thread, over a socket bound before it starts (so port 0 gives a port to read at once):
the part `evalkit serve` and `evalkit view` share."""

from __future__ import annotations

import signal
import socket
import threading
import time

import uvicorn


class ThreadedUvicorn:
    """An ASGI app served on a daemon thread. Port 0 picks a free one (read `.port`)."""

    thread_name = "evalkit-http"
    stop_wait_s = 10.0  # how long stop() waits for the thread to finish its requests

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, graceful_s: float = 2.0):
        self.socket = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.host, self.port = host, self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=graceful_s)
        self.uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.origin} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.stop_wait_s)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def interrupt_on_sigterm() -> None:
    """SIGTERM stops the foreground loop as Ctrl-C does: uvicorn off the main thread installs no handlers."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
