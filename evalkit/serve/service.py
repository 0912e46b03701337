"""What `/v1/completions` and `/v1/chat/completions` compute, over one loaded backend.

A choice without `logprobs` is a GenerationRequest for the backend's own
`generate` (batched with whatever else is waiting: engine.py), so a client gets
exactly what `evalkit run` computes. A choice with `logprobs`, or whose token-id
prompt would not survive a decode/encode round trip, runs the token-level loop
in scoring.py on the exact ids (requests waiting together share its forwards). Each of `n` choices gets its own seed (the
request's seed + its index; without a seed, one drawn from the server's own
seeded RNG), so samples differ from each other and repeat with the same seed.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from evalkit.backends.tokens import cut_at_stops
from evalkit.serve.engine import Engine
from evalkit.serve.replies import ChoiceResult, chat_logprobs, completion_logprobs
from evalkit.serve.schema import ChatRequest, CompletionRequest, Message
from evalkit.serve.scoring import Decoded, Sampling
from evalkit.types import GenerationRequest


class RequestError(Exception):
    def __init__(self, message: str, status: int = 400, param: str | None = None):
        super().__init__(message)
        self.status, self.param = status, param


@dataclass
class PendingChoice:
    """One choice of a reply while it is computed: its result, and for a streamed generation the queue
    that receives each token id as it is chosen, with what a stream needs to turn them into text."""

    result: asyncio.Future  # a ChoiceResult
    tokens: asyncio.Queue | None = None
    prefix: str = ""  # echoed prompt text that leads the reply
    stops: tuple[str, ...] = ()


@dataclass
class Prompt:
    ids: list[int]
    text: str
    given_as_ids: bool = False


class ModelService:
    def __init__(self, backend, model_id: str, engine: Engine | None = None):
        self.backend, self.model_id = backend, model_id
        self.engine = engine or Engine(backend)
        self.max_length = backend.max_length
        self._seeds = random.Random(0)  # seeds of requests that name none

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.model_id, "object": "model", "created": 0,
                                            "owned_by": "evalkit", "max_model_len": self.max_length}]}

    def check_model(self, model: str | None) -> None:
        if model not in (None, self.model_id):
            raise RequestError(f"The model `{model}` does not exist; this server serves `{self.model_id}`",
                               status=404, param="model")

    # -- /v1/completions ---------------------------------------------------------------------
    def completion_choices(self, body: CompletionRequest) -> tuple[list[PendingChoice], int]:
        """One PendingChoice per (prompt, sample), in the API's order, and the prompt tokens."""
        self.check_model(body.model)
        prompts = [self._prompt(p) for p in body.prompts]
        max_tokens = 16 if body.max_tokens is None else body.max_tokens
        for prompt in prompts:
            self._check_length(len(prompt.ids), max_tokens, "max_tokens")
        seed = self._seed(body.seed)
        choices = []
        for prompt in prompts:
            for sample in range(body.n):
                sampling = Sampling(max_tokens=max_tokens, temperature=_temperature(body.temperature),
                                    top_p=body.top_p or 1.0, seed=seed + sample, stop=body.stops,
                                    top_k=body.logprobs or 0, echo=body.echo)
                choices.append(self._completion_choice(prompt, sampling, body.logprobs is not None, body.stream))
        return choices, sum(len(p.ids) for p in prompts)

    def _completion_choice(self, prompt: Prompt, sampling: Sampling, with_logprobs: bool,
                           stream: bool) -> PendingChoice:
        echoed = prompt.text if sampling.echo else ""
        if not with_logprobs and not prompt.given_as_ids and sampling.max_tokens > 0:
            request = _generation(prompt.text, sampling, chat=False)
            return self._generated(request, stream, lambda g: ChoiceResult(echoed + g.text, g.finish_reason,
                                                                           g.n_tokens), echoed)

        def reply(decoded) -> ChoiceResult:
            text = cut_at_stops(self.backend.tokenizer.decode(decoded.generated_ids, skip_special_tokens=True),
                                sampling.stop)
            logprobs = (completion_logprobs(self.backend.tokenizer, decoded, None if prompt.given_as_ids else prompt.text)
                        if with_logprobs else None)
            return ChoiceResult(echoed + text, decoded.finish_reason, len(decoded.generated_ids), logprobs)

        return PendingChoice(_then(self.engine.score(prompt.ids, sampling), reply))

    def _generated(self, request: GenerationRequest, stream: bool, make, prefix: str = "") -> PendingChoice:
        """A generation through the engine; streamed token by token when asked."""
        if not stream:
            return PendingChoice(_then(self.engine.generate_each([request])[0], make))
        tokens, generation = self.engine.generate_stream(request)
        return PendingChoice(_then(generation, make), tokens, prefix, tuple(request.stop))

    def _prompt(self, prompt: str | list[int]) -> Prompt:
        tokenizer = self.backend.tokenizer
        if isinstance(prompt, str):
            return Prompt(self.backend.encode(prompt), prompt)
        vocab = len(tokenizer)
        bad = [t for t in prompt if not 0 <= t < vocab]
        if bad:
            raise RequestError(f"token id {bad[0]} is out of range for this model's vocabulary of {vocab}",
                               param="prompt")
        text = tokenizer.decode(prompt)
        # Text is generated from the exact ids only when they would not come back from the text unchanged.
        return Prompt(list(prompt), text, given_as_ids=self.backend.encode(text) != list(prompt))

    # -- /v1/chat/completions ----------------------------------------------------------------
    def chat_choices(self, body: ChatRequest) -> tuple[list[PendingChoice], int]:
        self.check_model(body.model)
        prompt, system, chat = self._chat_prompt(body.messages)
        rendered = self.backend.render_prompt(GenerationRequest(prompt=prompt, chat=chat, system=system))
        ids = self.backend.encode(rendered)
        max_tokens = body.limit if body.limit is not None else self.max_length - len(ids)  # vLLM's default
        self._check_length(len(ids), max_tokens, "max_completion_tokens" if body.max_completion_tokens else "max_tokens")
        seed = self._seed(body.seed)
        choices = []
        for sample in range(body.n):
            sampling = Sampling(max_tokens=max_tokens, temperature=_temperature(body.temperature),
                                top_p=body.top_p or 1.0, seed=seed + sample, stop=body.stops,
                                top_k=body.top_logprobs or 0)
            if body.logprobs:
                choices.append(PendingChoice(_then(self.engine.score(ids, sampling),
                                                   lambda decoded, s=sampling: self._chat_reply(decoded, s))))
            else:
                request = _generation(prompt, sampling, chat=chat, system=system)
                choices.append(self._generated(request, body.stream,
                                               lambda g: ChoiceResult(g.text, g.finish_reason, g.n_tokens)))
        return choices, len(ids)

    def _chat_reply(self, decoded: Decoded, sampling: Sampling) -> ChoiceResult:
        text = cut_at_stops(self.backend.tokenizer.decode(decoded.generated_ids, skip_special_tokens=True),
                            sampling.stop)
        return ChoiceResult(text, decoded.finish_reason, len(decoded.generated_ids),
                            chat_logprobs(self.backend.tokenizer, decoded))

    def _chat_prompt(self, messages: list[Message]) -> tuple[str, str | None, bool]:
        """[system?, user] maps onto a chat GenerationRequest exactly as the evaluation sends it; longer
        conversations are rendered with the chat template and sent as plain text."""
        turns = [{"role": "system" if m.role == "developer" else m.role, "content": m.text} for m in messages]
        roles = [t["role"] for t in turns]
        if roles in (["user"], ["system", "user"]):
            return turns[-1]["content"], (turns[0]["content"] if len(turns) == 2 else None), True
        tokenizer = self.backend.tokenizer
        if not tokenizer.chat_template:
            raise RequestError("this model has no chat template; send one user message (and an optional system "
                               "message) or use /v1/completions", param="messages")
        return tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False), None, False

    # -- shared ------------------------------------------------------------------------------
    def _check_length(self, prompt_tokens: int, max_tokens: int, param: str) -> None:
        """The positions the model reads must fit its length: the prompt and every generated token but the
        last, which is never read (so a prompt of max_length + 1 tokens can be scored with max_tokens=0)."""
        room = self.max_length + 1 - prompt_tokens
        if max_tokens > room:
            raise RequestError(f"This model's maximum context length is {self.max_length} tokens. However, you "
                               f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the prompt, "
                               f"{max_tokens} for the completion); "
                               + (f"lower {param} to at most {room}" if room > 0 else "shorten the prompt"),
                               param=param)

    def _seed(self, seed: int | None) -> int:
        return seed if seed is not None else self._seeds.randrange(2**31)


def _temperature(value: float | None) -> float:
    return 1.0 if value is None else value  # the API's default


def _generation(prompt: str, sampling: Sampling, chat: bool, system: str | None = None) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_new_tokens=sampling.max_tokens, stop=sampling.stop,
                             temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
                             chat=chat, system=system)


def _then(future: asyncio.Future, make) -> asyncio.Future:
    async def wrapped():
        return make(await future)

    return asyncio.ensure_future(wrapped())
