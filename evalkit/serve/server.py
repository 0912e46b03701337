"""`evalkit serve --model NAME`: a registered model behind an OpenAI-compatible HTTP API.

    GET  /v1/models             the one model served (with max_model_len, as vLLM lists it)
    POST /v1/chat/completions   messages → reply; logprobs / top_logprobs for the reply's tokens
    POST /v1/completions        prompt (text or token ids) → text; `echo` + `logprobs` give the
                                log-probability of every prompt token, which is how lm-eval's
                                `local-completions` and evalkit's own endpoint backend score

Generation runs the transformers backend itself (same decoding loop, stop strings
and seeds), so a client gets exactly what `evalkit run` computes. Prompt tokens
are scored in one forward pass; the first token has no context and gets null,
as the OpenAI API does. Requests are served one at a time (the model is shared);
the standard library's ThreadingHTTPServer keeps slow clients from blocking
each other's connections. No authentication: it listens on 127.0.0.1 unless told.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evalkit.serve.scoring import chat_logprobs, choice_logprobs, echo_scores
from evalkit.types import GenerationRequest


class RequestError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ModelService:
    """The OpenAI request/response shapes over one loaded backend."""

    def __init__(self, backend, model_id: str):
        self.backend, self.model_id = backend, model_id
        self.lock = threading.Lock()

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model_id, "object": "model", "created": 0,
                                            "owned_by": "evalkit", "max_model_len": self.backend.max_length}]}

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check(body)
        prompts = _prompts(body.get("prompt"))
        with self.lock:
            choices = [self._completion(prompt, body, index) for index, prompt in enumerate(prompts)]
        usage = {"prompt_tokens": sum(c.pop("_prompt_tokens") for c in choices),
                 "completion_tokens": sum(c.pop("_completion_tokens") for c in choices)}
        return _envelope("cmpl", "text_completion", self.model_id, choices, usage)

    def _completion(self, prompt: str | list[int], body: dict[str, Any], index: int) -> dict[str, Any]:
        tokenizer = self.backend.tokenizer
        ids = prompt if isinstance(prompt, list) else self.backend.encode(prompt)
        text = tokenizer.decode(ids) if isinstance(prompt, list) else prompt
        max_tokens = 16 if body.get("max_tokens") is None else int(body["max_tokens"])
        echo, top_k = bool(body.get("echo")), body.get("logprobs")
        if echo and max_tokens <= 1:  # the scoring path: one forward pass, no decoding loop
            scores = echo_scores(self.backend, ids, prompt if isinstance(prompt, str) else None, int(top_k or 0),
                                 max_tokens)
            return {"index": index, "text": text + scores.generated_text, "finish_reason": scores.finish_reason,
                    "logprobs": scores.as_openai() if top_k is not None else None,
                    "_prompt_tokens": len(ids), "_completion_tokens": len(scores.generated_ids)}
        generation = self._generate(text, body, chat=False)
        logprobs = None
        if top_k is not None:
            logprobs = choice_logprobs(self.backend, ids, text, generation.text, int(top_k), echo)
        return {"index": index, "text": (text if echo else "") + generation.text,
                "finish_reason": generation.finish_reason, "logprobs": logprobs,
                "_prompt_tokens": len(ids), "_completion_tokens": generation.n_tokens}

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise RequestError("`messages` must be a non-empty list of {role, content} objects")
        prompt, system, chat = _as_request_prompt(self.backend, messages)
        with self.lock:
            generation = self._generate(prompt, body, chat=chat, system=system)
            request = GenerationRequest(prompt=prompt, chat=chat, system=system)
            rendered = self.backend.render_prompt(request)
            logprobs = None
            if body.get("logprobs"):
                logprobs = chat_logprobs(self.backend, rendered, generation.text, int(body.get("top_logprobs") or 0))
        choice = {"index": 0, "message": {"role": "assistant", "content": generation.text},
                  "finish_reason": generation.finish_reason, "logprobs": logprobs}
        usage = {"prompt_tokens": len(self.backend.encode(rendered)), "completion_tokens": generation.n_tokens}
        return _envelope("chatcmpl", "chat.completion", self.model_id, [choice], usage)

    def _generate(self, prompt: str, body: dict[str, Any], chat: bool, system: str | None = None):
        stop = body.get("stop") or ()
        stop = (stop,) if isinstance(stop, str) else tuple(stop)
        # The API's defaults: 16 tokens for completions, temperature 1; evalkit's clients always send both.
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or (1024 if chat else 16)
        temperature = body.get("temperature")
        request = GenerationRequest(prompt=prompt, max_new_tokens=int(max_tokens), stop=stop,
                                    temperature=1.0 if temperature is None else float(temperature),
                                    top_p=float(body.get("top_p") or 1.0), seed=int(body.get("seed") or 0),
                                    chat=chat, system=system)
        return next(iter(self.backend.generate([request])))[1]

    def _check(self, body: dict[str, Any]) -> None:
        if body.get("model") not in (None, self.model_id):
            raise RequestError(f"model {body.get('model')!r} is not served here; this server serves "
                               f"{self.model_id!r}", status=404)
        if body.get("stream"):
            raise RequestError("streaming is not supported; send stream=false")
        if int(body.get("n") or 1) != 1:
            raise RequestError("only n=1 is supported; send one request per sample")


def _prompts(prompt: Any) -> list[str | list[int]]:
    """The completions API's four prompt shapes: text, texts, token ids, lists of token ids."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return list(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(p, list) and p and
                                                   all(isinstance(t, int) for t in p) for p in prompt):
        return list(prompt)
    raise RequestError("`prompt` must be text, a list of texts, token ids, or a list of token-id lists")


def _as_request_prompt(backend, messages: list[dict[str, Any]]) -> tuple[str, str | None, bool]:
    """[system?, user] maps onto a chat GenerationRequest exactly as the evaluation sends it; longer
    conversations are rendered with the chat template and sent as plain text."""
    messages = [{"role": m.get("role"), "content": _text(m.get("content"))} for m in messages]
    roles = [m["role"] for m in messages]
    if roles == ["user"] or roles == ["system", "user"]:
        return messages[-1]["content"], (messages[0]["content"] if len(messages) == 2 else None), True
    tokenizer = backend.tokenizer
    if not tokenizer.chat_template:
        raise RequestError("this model has no chat template; send a single user message or use /v1/completions")
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False), None, False


def _text(content: Any) -> str:
    """Message content as text: a string, or the API's list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise RequestError("message content must be text or a list of text parts")


def _envelope(prefix: str, kind: str, model: str, choices: list, usage: dict[str, int]) -> dict[str, Any]:
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": kind, "created": int(time.time()), "model": model,
            "choices": choices, "usage": usage}


def make_server(service: ModelService, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for `service` (port 0: a free one; read it from server.server_port)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the openai client reuses connections

        def log_message(self, format, *args):  # quiet: the CLI prints one line per request itself
            pass

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                return self._reply(200, service.models())
            if self.path.rstrip("/") == "/health":
                return self._reply(200, {"status": "ok"})
            return self._reply(404, _error(f"no route {self.path}; try /v1/models", "not_found"))

        def do_POST(self):
            routes = {"/v1/completions": service.completions, "/v1/chat/completions": service.chat,
                      "/completions": service.completions, "/chat/completions": service.chat}
            route = routes.get(self.path.rstrip("/"))
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                if route is None:
                    raise RequestError(f"no route {self.path}", status=404)
                if not isinstance(body, dict):
                    raise RequestError("the request body must be a JSON object")
                self._reply(200, route(body))
            except json.JSONDecodeError as err:
                self._reply(400, _error(f"request body is not JSON: {err}"))
            except RequestError as err:
                self._reply(err.status, _error(str(err)))
            except (ValueError, TypeError) as err:
                self._reply(400, _error(f"{type(err).__name__}: {err}"))

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def _error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": None}}
