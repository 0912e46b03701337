"""uvicorn around the view's app, on a thread: the command waits on it in the foreground, tests keep
their own. Port 0 picks a free one (read `.port` after `start()`)."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from evalkit.serve.http import ThreadedUvicorn, interrupt_on_sigterm


class Server(ThreadedUvicorn):
    thread_name = "evalkit-view-http"

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0):
        super().__init__(app, host, port, graceful_s=2)

    @property
    def url(self) -> str:
        return f"{self.origin}/"

    def wait(self) -> None:
        """Until Ctrl-C or SIGTERM (or the server stops by itself)."""
        if threading.current_thread() is threading.main_thread():
            interrupt_on_sigterm()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
