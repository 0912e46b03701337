"""The ASGI app (FastAPI): routes, API key, request-size limit, errors, server-sent events.

    GET  /v1/models             the one model served (with max_model_len, as vLLM lists it)
    POST /v1/completions        prompt (text, texts, token ids) → text; `echo` + `logprobs` score the prompt
    POST /v1/chat/completions   messages → reply; `logprobs` / `top_logprobs` for the reply's tokens
    GET  /health                no key needed

Errors are the API's: `{"error": {"message", "type", "param", "code"}}` with 400
for a request the API would refuse (FastAPI's 422 for a body that does not
validate becomes 400, as the OpenAI API and vLLM answer), 401 for a missing or
wrong key, 404 for another model, 413 for a body over the limit.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from evalkit.serve.replies import ChoiceResult, Envelope, error_body
from evalkit.serve.schema import ChatRequest, CompletionRequest, describe
from evalkit.serve.service import ModelService, PendingChoice, RequestError
from evalkit.serve.streaming import IncrementalText

DEFAULT_MAX_REQUEST_BYTES = 16 * 2**20


def make_app(service: ModelService, api_key: str | None = None,
             max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> FastAPI:
    app = FastAPI(title="evalkit serve", docs_url=None, redoc_url=None, openapi_url=None)
    _errors(app)

    @app.middleware("http")
    async def check_key(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1"):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return JSONResponse(error_body("missing or wrong API key; send it as `Authorization: Bearer KEY`",
                                               "authentication_error"), status_code=401)
        return await call_next(request)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models():
        return service.models()

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest):
        choices, prompt_tokens = service.completion_choices(body)
        return await _reply(Envelope(service.model_id, chat=False), choices, prompt_tokens, body,
                            service.backend.tokenizer)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest):
        choices, prompt_tokens = service.chat_choices(body)
        return await _reply(Envelope(service.model_id, chat=True), choices, prompt_tokens, body,
                            service.backend.tokenizer)

    return SizeLimit(app, max_request_bytes)


async def _reply(envelope: Envelope, choices: list[PendingChoice], prompt_tokens: int, body, tokenizer):
    if not body.stream:
        try:
            results = list(await asyncio.gather(*(choice.result for choice in choices)))
        except ValueError as err:
            raise RequestError(str(err)) from None
        return envelope.body(results, prompt_tokens)
    return StreamingResponse(_events(envelope, choices, prompt_tokens, body.include_usage, tokenizer),
                             media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _events(envelope: Envelope, choices: list[PendingChoice], prompt_tokens: int, include_usage: bool,
                  tokenizer) -> AsyncIterator[str]:
    """Server-sent events: a chat choice's role first, then each choice's text as its tokens are decoded
    (streaming.py holds back what is not final yet), its finish, the usage chunk when asked for, [DONE]."""
    updates: asyncio.Queue = asyncio.Queue()
    pumps = [asyncio.ensure_future(_pump(i, choice, updates)) for i, choice in enumerate(choices)]
    texts = [IncrementalText(tokenizer, choice.stops, choice.prefix) for choice in choices]
    results: list[ChoiceResult] = []
    try:
        if envelope.chat:
            for i in range(len(choices)):
                yield _event(envelope.role_chunk(i, include_usage))
        while len(results) < len(choices):
            index, kind, value = await updates.get()
            if kind == "token":
                if delta := texts[index].add(value):
                    yield _event(envelope.text_chunk(index, delta, include_usage))
            elif kind == "error":  # headers are sent: the error travels as an event, as vLLM's
                yield _event(error_body(f"{type(value).__name__}: {value}", "server_error"))
                return
            else:
                results.append(value)
                for chunk in envelope.finish_chunks(index, texts[index].finish(value.text), value, include_usage):
                    yield _event(chunk)
        if include_usage:
            yield _event(envelope.usage_chunk(results, prompt_tokens))
        yield "data: [DONE]\n\n"
    finally:
        for pump in pumps:
            pump.cancel()
        for choice in choices:
            choice.result.cancel()


async def _pump(index: int, choice: PendingChoice, updates: asyncio.Queue) -> None:
    """Moves one choice's token ids, then its result (or error), onto the reply's queue of updates."""
    if choice.tokens is not None:
        while not choice.result.done():
            getter = asyncio.ensure_future(choice.tokens.get())
            await asyncio.wait({getter, choice.result}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                updates.put_nowait((index, "token", getter.result()))
            else:
                getter.cancel()
        while not choice.tokens.empty():  # the model thread queued every token before the result
            updates.put_nowait((index, "token", choice.tokens.get_nowait()))
    try:
        updates.put_nowait((index, "done", await choice.result))
    except Exception as err:
        updates.put_nowait((index, "error", err))


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        errors = err.errors()
        param = ".".join(str(p) for p in errors[0].get("loc", ())[1:]) or None if errors else None
        return JSONResponse(error_body(describe(errors), param=param), status_code=400)

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError):
        kind = "not_found_error" if err.status == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(err), kind, err.param), status_code=err.status)

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception):
        return JSONResponse(error_body(f"{type(err).__name__}: {err}", "server_error"), status_code=500)


class SizeLimit:
    """ASGI middleware: a body over `limit` bytes gets 413 before more of it is read, whether its size
    is declared (Content-Length) or streamed (chunked). The body is read here and handed on whole."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._too_large(send)
        parts, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > self.limit:
                return await self._too_large(send)
            more = message.get("more_body", False)
        body, handed = b"".join(parts), False

        async def replay():
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send) -> None:
        body = json.dumps(error_body(f"request body over the limit of {self.limit} bytes; send less, or start "
                                     f"the server with a larger --max-request-bytes")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
