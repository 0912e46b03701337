"""Any OpenAI-compatible endpoint as a backend: OpenAI, vLLM, llama.cpp, `evalkit serve`.

    [models.gpt4o]                      [models.served]
    source = "openai:gpt-4o"            source = "http://127.0.0.1:8000/v1"   # model: the one it lists
    api_key_env = "OPENAI_API_KEY"      tokenizer = "path/to/model"           # exact token-level scoring

Generation uses chat completions (chat requests) or completions. Log-likelihoods
use completions with `echo` and `logprobs`, as lm-eval's `local-completions`
does: with a local `tokenizer` the prompts are sent as token ids built exactly as
the transformers backend builds them (same pairs, same rolling windows), so the
numbers agree with it; without one the text is sent and the continuation's
tokens are found by their character offsets.

The API key is read from the environment variable `api_key_env` names and kept
in memory only. Requests run `concurrency` at a time, each with a timeout, and
are retried as endpoint_calls.py describes; whatever still fails is left out and
reported at the end (EndpointError.failures), after every finished result has
been yielded, so the caller stores those and a rerun asks only for the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from evalkit.backends.endpoint_calls import (
    EndpointError,
    MalformedResponse,
    RequestFailed,
    RequestRunner,
)
from evalkit.backends.tokens import encode_pair, rolling_windows, truncate_left
from evalkit.config import ModelSpec
from evalkit.errors import ConfigError, ModelError
from evalkit.types import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    RollingLoglikelihood,
    RollingRequest,
)

__all__ = ["EndpointError", "OpenAIBackend"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class OpenAIBackend:
    def __init__(self, spec: ModelSpec):
        import openai

        self.spec = spec
        self.base_url, self._model = _endpoint(spec)
        self.client = openai.OpenAI(base_url=self.base_url, api_key=_api_key(spec, self.base_url), max_retries=0,
                                    timeout=spec.timeout)
        self.calls = RequestRunner(spec.name, self.base_url, spec.concurrency, spec.max_retries)
        self._tokenizer = None
        self._max_length = spec.max_length
        self._always_generates = False  # a server that refuses max_tokens=0 (vLLM): see vllm_window
        self._echo_checked = False

    # -- the three backend calls -----------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        yield from self.calls.all([lambda r=r: self._generate_one(r) for r in requests])

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, Loglikelihood]]:
        if requests:
            self.check_echo_logprobs()
        yield from self.calls.all([lambda r=r: self._loglikelihood_one(r) for r in requests])

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> Iterator[tuple[int, RollingLoglikelihood]]:
        if requests:
            self.check_echo_logprobs()
        if self.spec.tokenizer is None:
            _check_no_stride(requests, self.spec.name)
            yield from self.calls.all([lambda r=r: self._rolling_text(r.text) for r in requests])
            return
        windows, state = [], {}
        for index, request in enumerate(requests):
            tokens = self.encode(request.text)
            doc = list(rolling_windows(tokens, self.prefix_token, self.max_length, request.stride))
            state[index] = [len(doc), 0.0, len(tokens)]
            windows += [(index, ctx, pred) for ctx, pred in doc]
            if not doc:
                yield index, RollingLoglikelihood(logprob=0.0, n_tokens=0)
        failures: dict[int, str] = {}
        calls = [lambda c=c, p=p: self._score_tokens(c, p)[0] for _, c, p in windows]
        for w, logprob in self.calls.gather(calls, failures):
            left = state[windows[w][0]]
            left[0], left[1] = left[0] - 1, left[1] + logprob
            if left[0] == 0:
                yield windows[w][0], RollingLoglikelihood(logprob=left[1], n_tokens=left[2])
        self.calls.raise_failures({windows[w][0]: reason for w, reason in failures.items()}, len(requests))

    # -- one request each ------------------------------------------------------------------
    def _generate_one(self, request: GenerationRequest) -> Generation:
        settings = {"model": self.model, "max_tokens": request.max_new_tokens, "temperature": request.temperature,
                    "top_p": request.top_p, "seed": request.seed}
        if request.stop:
            settings["stop"] = list(request.stop[:4])  # the API takes at most 4; the rest are cut below
        if request.chat:
            messages = [{"role": "system", "content": request.system}] if request.system else []
            if request.top_logprobs:
                settings.update(logprobs=True, top_logprobs=request.top_logprobs)
            reply = self.client.chat.completions.create(
                messages=messages + [{"role": "user", "content": request.prompt}], **settings)
            choice = _first_choice(reply)
            text = getattr(choice.message, "content", None)
        else:
            reply = self.client.completions.create(prompt=request.prompt, **settings)
            choice = _first_choice(reply)
            text = choice.text
        if not isinstance(text, str):
            raise MalformedResponse("reply has no text")
        for stop in request.stop:
            text = text.split(stop, 1)[0]
        usage = getattr(reply, "usage", None)
        n_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        tops = _first_token_alternatives(choice) if request.top_logprobs and request.chat else None
        return Generation(text=text, n_tokens=n_tokens, finish_reason=choice.finish_reason or "stop", top_logprobs=tops)

    def _loglikelihood_one(self, request: LoglikelihoodRequest) -> Loglikelihood:
        if self.spec.tokenizer is None:
            return self._loglikelihood_text(request)
        context, continuation = encode_pair(self.encode, request.context, request.continuation, self.prefix_token)
        context, continuation = truncate_left(context, continuation, self.max_length)
        logprob, greedy = self._score_tokens(context, continuation)
        return Loglikelihood(logprob=logprob, is_greedy=greedy, n_tokens=len(continuation))

    def _score_tokens(self, context: list[int], predicted: list[int]) -> tuple[float, bool]:
        """log P(predicted | context) on exact token ids, and whether each token was the top one."""
        logprobs = self._echo(context + predicted)
        start, end = len(context), len(context) + len(predicted)
        return _sum_span(logprobs, start, end)

    def _loglikelihood_text(self, request: LoglikelihoodRequest) -> Loglikelihood:
        context, continuation = request.context, request.continuation
        spaces = len(context) - len(context.rstrip())
        if spaces:  # as encode_pair: trailing spaces belong to the continuation's first token
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        logprobs = self._echo(context + continuation)
        offsets = logprobs.text_offset or []
        span = [i for i, offset in enumerate(offsets) if len(context) <= offset < len(context) + len(continuation)]
        if not span:
            raise MalformedResponse("no continuation tokens in the echoed prompt")
        logprob, greedy = _sum_span(logprobs, span[0], span[-1] + 1)
        return Loglikelihood(logprob=logprob, is_greedy=greedy, n_tokens=len(span))

    def _rolling_text(self, text: str) -> RollingLoglikelihood:
        if not text:
            return RollingLoglikelihood(logprob=0.0, n_tokens=0)
        logprobs = self._echo(text)
        span = [i for i, offset in enumerate(logprobs.text_offset or []) if offset < len(text)]
        return RollingLoglikelihood(logprob=_sum_span(logprobs, span[0], span[-1] + 1)[0], n_tokens=len(span))

    def _echo(self, prompt: str | list[int]):
        """Per-token log-probabilities of the prompt itself (completions with echo, as lm-eval). One
        generated token is asked for, as lm-eval does, except for a full rolling window (max_length + 1
        tokens, of which the model reads all but the last): then none, which `evalkit serve` accepts."""
        full = isinstance(prompt, list) and len(prompt) > self.max_length and not self._always_generates
        reply = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=0 if full else 1,
                                               temperature=0.0, echo=True, logprobs=1)
        logprobs = getattr(_first_choice(reply), "logprobs", None)
        if logprobs is None or not isinstance(getattr(logprobs, "token_logprobs", None), list):
            raise MalformedResponse("echo reply has no token_logprobs")
        return logprobs

    def check_echo_logprobs(self) -> None:
        """Once, before the first scoring request: does this endpoint return log-probabilities of the
        prompt's own tokens (completions with echo + logprobs)? Many servers do not (the OpenAI API's
        chat models, `transformers serve`, some llama.cpp builds); without this check every scoring
        request would fail alike, as "malformed response", with nothing said about why."""
        if self._echo_checked:
            return
        probe = "The quick brown fox jumps over the lazy dog."

        def ask():
            reply = self.client.completions.create(model=self.model, prompt=probe, max_tokens=1, temperature=0.0,
                                                   echo=True, logprobs=1)
            values = getattr(getattr(_first_choice(reply), "logprobs", None), "token_logprobs", None)
            return isinstance(values, list) and len(values) >= 3 and any(v is not None for v in values[:-1])

        try:
            supported = self.calls.retrying(ask)
            reason = "its echo reply has no log-probabilities for the prompt's tokens"
        except RequestFailed as err:
            if err.reason in ("connection error", "timeout"):
                raise ModelError(f"model {self.spec.name!r}: cannot reach {self.base_url} ({err.reason})") from None
            supported, reason = False, f"it answers a completions request with echo and logprobs with {err.reason}"
        if not supported:
            raise ModelError(f"model {self.spec.name!r}: {self.base_url} cannot score: {reason} (scoring tasks need "
                             f"completions with echo=true and logprobs); generation tasks and judges still work with "
                             f"it — or serve the model with `evalkit serve` or vLLM")
        self._echo_checked = True

    # -- tokenizer, model id, window length -------------------------------------------------
    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.spec.tokenizer)
        return self._tokenizer

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    @property
    def prefix_token(self) -> int:
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    @property
    def model(self) -> str:
        """The model id; for a URL source, the one the server lists (asked inside a request, so a
        failure is classified and retried with it)."""
        if self._model is None:
            self._model = self._listed_model()["id"]
        return self._model

    @property
    def max_length(self) -> int:
        if self._max_length is None:
            try:
                listed = self.calls.retrying(self._listed_model)
            except RequestFailed as err:
                raise ModelError(f"model {self.spec.name!r}: cannot list the models of {self.base_url} ({err.reason}); "
                                 f"set models.{self.spec.name}.max_length to skip asking") from None
            self._max_length = int(listed.get("max_model_len") or 2048)
            if listed.get("owned_by") == "vllm":  # vllm_window says why
                self._always_generates, self._max_length = True, self._max_length - 2
        return self._max_length

    def _listed_model(self) -> dict[str, Any]:
        listed = [m.model_dump() for m in self.client.models.list()]
        wanted = [m for m in listed if self._model is None or m.get("id") == self._model]
        if not wanted:
            raise ModelError(f"model {self.spec.name!r}: {self.base_url} lists no model"
                             f"{' named ' + repr(self._model) if self._model else ''}; check models.{self.spec.name}")
        return wanted[0]

def _endpoint(spec: ModelSpec) -> tuple[str, str | None]:
    if spec.source.startswith("openai:"):
        model = spec.source.removeprefix("openai:")
        return spec.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL, model or None
    return spec.source, None  # a URL: the model is the one the server lists


def _api_key(spec: ModelSpec, base_url: str) -> str:
    variable = spec.api_key_env or "OPENAI_API_KEY"
    key = os.environ.get(variable)
    if key:
        return key
    if urlparse(base_url).hostname in LOCAL_HOSTS:
        return "EMPTY"  # local servers do not check keys
    raise ModelError(f"model {spec.name!r}: the API key for {base_url} is read from the environment variable "
                     f"{variable}, which is not set; export it (models.{spec.name}.api_key_env names the variable)")


def _first_token_alternatives(choice) -> dict[str, float]:
    """A chat reply's first token's `top_logprobs` as {token text: log-probability}; a reply without them is
    malformed for the request that asked (retried, then counted as failed, never cached as a verdict)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    tops = getattr(content[0], "top_logprobs", None) if isinstance(content, list) and content else None
    if not isinstance(tops, list) or not tops:
        raise MalformedResponse("reply has no top_logprobs (the endpoint does not return them)")
    found: dict[str, float] = {}
    for entry in tops:
        token, logprob = getattr(entry, "token", None), getattr(entry, "logprob", None)
        if isinstance(token, str) and isinstance(logprob, (int, float)):
            found[token] = max(float(logprob), found.get(token, float("-inf")))
    return found


def _first_choice(reply):
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("reply has no choices")
    return choices[0]


def _sum_span(logprobs, start: int, end: int) -> tuple[float, bool]:
    values, tokens, tops = logprobs.token_logprobs, logprobs.tokens or [], logprobs.top_logprobs or []
    if len(values) < end:
        raise MalformedResponse(f"echo reply has {len(values)} token log-probabilities, expected at least {end}")
    if any(values[i] is None for i in range(start, end)):
        raise RequestFailed("endpoint gives no log-probability for the first token; set the model's `tokenizer` "
                            "so requests carry a prefix token, or use a non-empty context")
    greedy = all(i < len(tops) and tops[i] and max(tops[i], key=tops[i].get) == tokens[i] for i in range(start, end))
    return float(sum(values[start:end])), greedy




def _check_no_stride(requests: Sequence[RollingRequest], name: str) -> None:
    # without a tokenizer the server scores whole documents as it cuts them; evalkit cannot place windows
    stride = next((r.stride for r in requests if r.stride is not None), None)
    if stride is not None:
        raise ConfigError(f"model {name!r}: [perplexity].stride = {stride} needs the model's tokenizer to cut "
                          f"windows; set models.{name}.tokenizer (a local folder or hub id) or drop the stride")


def vllm_window(window: int) -> int:
    """The max_model_len a vLLM server must be started with for windows of `window` tokens, as the transformers backend
    reads them. vLLM always generates a token, so its prompts hold at most max_model_len - 1 tokens, and a
    full scoring window is window + 1 tokens (the last only a target): max_model_len = window + 2. The
    endpoint backend, seeing a server owned by "vllm", takes max_model_len - 2 as the window."""
    return window + 2
