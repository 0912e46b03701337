"""A local OpenAI-compatible server that misbehaves on purpose, for fault tests.

It listens on 127.0.0.1 only. `behave(n, body)` decides what the n-th request
(0-based) gets; the server records every request (path, body, headers) so tests
can count exactly how many calls were made.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Action = tuple  # ("ok", text) | ("status", code, retry_after) | ("malformed",) | ("no_choices",) | ("slow", s, text)
#                | ("reply", a whole reply body)


def chat_reply(text: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "judge",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}


def prompt_of(body: dict) -> str:
    return body["messages"][-1]["content"] if "messages" in body else str(body.get("prompt"))


class FakeEndpoint:
    def __init__(self, behave: Callable[[int, dict], Action]):
        self.behave = behave
        self.requests: list[tuple[str, dict, dict]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> FakeEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, json.dumps({"object": "list", "data": [{"id": "judge", "object": "model",
                                                                         "created": 0, "owned_by": "test"}]}))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                with endpoint.lock:
                    n = len(endpoint.requests)
                    endpoint.requests.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
                action = endpoint.behave(n, body)
                kind = action[0]
                if kind == "slow":
                    time.sleep(action[1])
                    return self._send(200, json.dumps(chat_reply(action[2])))
                if kind == "status":
                    headers = {"retry-after": str(action[2])} if len(action) > 2 and action[2] is not None else {}
                    return self._send(action[1], json.dumps({"error": {"message": "try later"}}), headers)
                if kind == "malformed":
                    return self._send(200, '{"choices": [{"message": ')
                if kind == "reply":
                    return self._send(200, json.dumps(action[1]))
                if kind == "no_choices":
                    return self._send(200, json.dumps({"id": "x", "object": "chat.completion"}))
                return self._send(200, json.dumps(chat_reply(action[1])))

            def _send(self, status: int, text: str, headers: dict | None = None) -> None:
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): fine
                    pass

        return Handler
