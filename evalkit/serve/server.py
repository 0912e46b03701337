"""uvicorn around the app, on a thread: `evalkit serve` keeps the model on the main thread (engine.py
says why), tests and benchmarks keep their own."""

from __future__ import annotations

from evalkit.serve.app import DEFAULT_MAX_REQUEST_BYTES, make_app
from evalkit.serve.http import ThreadedUvicorn, interrupt_on_sigterm
from evalkit.serve.service import ModelService


class Server(ThreadedUvicorn):
    """`evalkit serve`'s server. Port 0 picks a free one (read `.port` after `start()`)."""

    thread_name = "evalkit-serve-http"
    stop_wait_s = 30.0

    def __init__(self, service: ModelService, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.service = service
        super().__init__(make_app(service, api_key, max_request_bytes), host, port, graceful_s=5)

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    def serve_forever(self) -> None:
        try:
            super().serve_forever()
        finally:
            self.service.engine.close()

    def serve_in_foreground(self) -> None:
        """`evalkit serve`: HTTP on a thread and the model on this one, the thread that loaded it, until
        Ctrl-C or SIGTERM. The service's engine must have been made with `own_thread=False`."""
        interrupt_on_sigterm()
        self.start()
        try:
            self.service.engine.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
