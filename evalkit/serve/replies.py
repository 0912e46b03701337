"""Reply bodies in the OpenAI API's shapes: completions, chat completions, their stream chunks.

Token strings are each token decoded on its own, as the OpenAI API and vLLM
report them; offsets of a text prompt come from the tokenizer's offset mapping
and generated tokens' offsets go on from the end of the prompt, as the API's do.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from evalkit.serve.scoring import Decoded


@dataclass
class ChoiceResult:
    text: str  # what the reply carries (with echo: the prompt's text first)
    finish_reason: str
    n_generated: int
    logprobs: dict[str, Any] | None = None


def completion_logprobs(tokenizer, decoded: Decoded, prompt_text: str | None) -> dict[str, Any]:
    """`choices[i].logprobs` of /v1/completions: tokens, token_logprobs, top_logprobs, text_offset."""
    tokens = [tokenizer.decode([i]) for i in decoded.token_ids]
    prompt_ids = decoded.token_ids[: decoded.n_prompt]
    offsets = _prompt_offsets(tokenizer, prompt_ids, prompt_text, tokens[: decoded.n_prompt])
    position = len(prompt_text) if prompt_text is not None else sum(len(t) for t in tokens[: decoded.n_prompt])
    for token in tokens[decoded.n_prompt:]:
        offsets.append(position)
        position += len(token)
    tops = [None if top is None else {tokenizer.decode([i]): v for i, v in top.items()} for top in decoded.tops]
    return {"tokens": tokens, "token_logprobs": decoded.logprobs, "top_logprobs": tops, "text_offset": offsets}


def _prompt_offsets(tokenizer, ids: list[int], text: str | None, tokens: list[str]) -> list[int]:
    if not ids:
        return []
    if text is not None:
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if list(encoded["input_ids"]) == list(ids):
            return [start for start, _ in encoded["offset_mapping"]]
    offsets, position = [], 0
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return offsets


def chat_logprobs(tokenizer, decoded: Decoded) -> dict[str, Any]:
    """`choices[i].logprobs` of /v1/chat/completions: each reply token with its top alternatives."""
    content = []
    for token_id, value, top in zip(decoded.generated_ids, decoded.logprobs[decoded.n_prompt:],
                                    decoded.tops[decoded.n_prompt:]):
        token = tokenizer.decode([token_id])
        alternatives = [_token_entry(tokenizer.decode([i]), v) for i, v in (top or {}).items()]
        content.append({**_token_entry(token, value), "top_logprobs": alternatives})
    return {"content": content, "refusal": None}


def _token_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def usage(prompt_tokens: int, choices: list[ChoiceResult]) -> dict[str, int]:
    completion_tokens = sum(c.n_generated for c in choices)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class Envelope:
    """The id, time and model every body and chunk of one reply shares."""

    def __init__(self, model: str, chat: bool):
        self.model, self.chat = model, chat
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())

    def _head(self, stream: bool) -> dict[str, Any]:
        kind = ("chat.completion.chunk" if stream else "chat.completion") if self.chat else "text_completion"
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def body(self, choices: list[ChoiceResult], prompt_tokens: int) -> dict[str, Any]:
        rendered = [self._choice(i, c) for i, c in enumerate(choices)]
        return {**self._head(False), "choices": rendered, "usage": usage(prompt_tokens, choices)}

    def _choice(self, index: int, choice: ChoiceResult) -> dict[str, Any]:
        if self.chat:
            return {"index": index, "message": {"role": "assistant", "content": choice.text, "refusal": None},
                    "finish_reason": choice.finish_reason, "logprobs": choice.logprobs}
        return {"index": index, "text": choice.text, "finish_reason": choice.finish_reason,
                "logprobs": choice.logprobs}

    def role_chunk(self, index: int, include_usage: bool) -> dict[str, Any]:
        """A streamed chat choice opens with the assistant's role (nothing for a completion)."""
        return self._delta(index, {"role": "assistant", "content": ""}, include_usage)

    def text_chunk(self, index: int, text: str, include_usage: bool) -> dict[str, Any]:
        if not self.chat:
            return {**self._head(True), "choices": [{"index": index, "text": text, "finish_reason": None,
                                                     "logprobs": None}], **_usage_slot(include_usage)}
        return self._delta(index, {"content": text}, include_usage)

    def finish_chunks(self, index: int, rest: str, choice: ChoiceResult, include_usage: bool) -> list[dict[str, Any]]:
        """A choice's last chunks: the text not sent yet with its logprobs, then the finish reason (chat);
        for a completion, one chunk that carries both."""
        if not self.chat:
            last = {**self._choice(index, choice), "text": rest}
            return [{**self._head(True), "choices": [last], **_usage_slot(include_usage)}]
        body = [self._delta(index, {"content": rest}, include_usage, logprobs=choice.logprobs)] if (
            rest or choice.logprobs) else []
        return body + [self._delta(index, {}, include_usage, reason=choice.finish_reason)]

    def _delta(self, index: int, delta: dict[str, Any], include_usage: bool, reason: str | None = None,
               logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**self._head(True), **_usage_slot(include_usage),
                "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": reason}]}

    def usage_chunk(self, choices: list[ChoiceResult], prompt_tokens: int) -> dict[str, Any]:
        return {**self._head(True), "choices": [], "usage": usage(prompt_tokens, choices)}


def _usage_slot(include_usage: bool) -> dict[str, Any]:
    return {"usage": None} if include_usage else {}


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}
