"""Per-token log-probabilities for `evalkit serve`, in the OpenAI API's shapes.

A prompt's tokens are scored in one forward pass of the transformers backend's
decoder and LM head (the same modules the evaluation uses), so summing a span of
them gives what the backend's own log-likelihood gives, to float32 rounding.
Token strings are each token decoded on its own, as the OpenAI API and vLLM
report them; offsets of a text prompt come from the tokenizer's offset mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EchoScores:
    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]
    generated_ids: list[int] = field(default_factory=list)
    generated_text: str = ""
    finish_reason: str = "length"

    def as_openai(self) -> dict:
        return {"tokens": self.tokens, "token_logprobs": self.token_logprobs, "top_logprobs": self.top_logprobs,
                "text_offset": self.text_offset}


def score_ids(backend, ids: list[int], top_k: int, with_next: bool):
    """(logprob of each token given the ones before — None for the first —, top-k alternatives of
    each, and the next-token log-probabilities after the last token when `with_next`)."""
    import torch

    feed = ids if with_next else ids[:-1]
    if len(feed) > backend.max_length:
        raise ValueError(f"prompt of {len(ids)} tokens does not fit max_model_len {backend.max_length}")
    values: list[float | None] = [None]
    tops: list[dict[str, float] | None] = [None]
    if not feed:
        return values, tops, None
    with torch.inference_mode():
        hidden = backend.decoder(input_ids=torch.tensor([feed], device=backend.device)).last_hidden_state[0]
        for start in range(0, len(ids) - 1, 1024):  # bound the [positions, vocab] logits in memory
            logprobs = backend._logprobs(hidden[start : min(start + 1024, len(ids) - 1)])
            targets = torch.tensor(ids[start + 1 : start + 1 + logprobs.shape[0]], device=backend.device)
            values += logprobs.gather(1, targets[:, None]).squeeze(1).double().tolist()
            tops += _tops(backend, logprobs, top_k)
        following = backend._logprobs(hidden[-1:])[0] if with_next else None
    return values, tops, following


def _tops(backend, logprobs, top_k: int) -> list[dict[str, float] | None]:
    if top_k <= 0:
        return [None] * logprobs.shape[0]
    best = logprobs.topk(top_k, dim=-1)
    decode = backend.tokenizer.decode
    return [{decode([int(i)]): float(v) for v, i in zip(row_values, row_ids)}
            for row_values, row_ids in zip(best.values.tolist(), best.indices.tolist())]


def echo_scores(backend, ids: list[int], text: str | None, top_k: int, max_tokens: int) -> EchoScores:
    """The prompt's own token scores, plus at most one greedy token after it (lm-eval sends max_tokens=1)."""
    with_next = max_tokens >= 1 and len(ids) <= backend.max_length
    values, tops, following = score_ids(backend, ids, top_k, with_next)
    tokens = [backend.tokenizer.decode([i]) for i in ids]
    offsets = _offsets(backend, ids, text, tokens)
    scores = EchoScores(tokens, values, tops, offsets)
    if following is not None:
        token = int(following.argmax())
        eos = backend.tokenizer.eos_token_id
        if token != eos:
            piece = backend.tokenizer.decode([token])
            scores.generated_ids, scores.generated_text = [token], piece
            scores.tokens.append(piece)
            scores.token_logprobs.append(float(following[token]))
            scores.top_logprobs.append(_tops(backend, following[None], top_k)[0])
            scores.text_offset.append(len(text) if text is not None else sum(len(t) for t in tokens))
        else:
            scores.finish_reason = "stop"
    return scores


def _offsets(backend, ids: list[int], text: str | None, tokens: list[str]) -> list[int]:
    if text is not None:
        encoded = backend.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if list(encoded["input_ids"]) == list(ids):
            return [start for start, _ in encoded["offset_mapping"]]
    offsets, position = [], 0
    for token in tokens:
        offsets.append(position)
        position += len(token)
    return offsets


def choice_logprobs(backend, prompt_ids: list[int], prompt_text: str, generated: str, top_k: int,
                    echo: bool) -> dict:
    """Completions `logprobs` for generated text: its tokens (re-encoded) scored after the prompt;
    with `echo`, the prompt's tokens first. Offsets count from the start of the prompt, as the API's."""
    generated_ids = backend.encode(generated)
    values, tops, _ = score_ids(backend, prompt_ids + generated_ids, top_k, with_next=False)
    pieces = [backend.tokenizer.decode([i]) for i in generated_ids]
    offsets, position = [], len(prompt_text)
    for piece in pieces:
        offsets.append(position)
        position += len(piece)
    tokens, n = pieces, len(prompt_ids)
    if echo:
        prompt_tokens = [backend.tokenizer.decode([i]) for i in prompt_ids]
        tokens, offsets = prompt_tokens + pieces, _offsets(backend, prompt_ids, prompt_text, prompt_tokens) + offsets
        n = 0
    return {"tokens": tokens, "token_logprobs": values[n:], "top_logprobs": tops[n:], "text_offset": offsets}


def chat_logprobs(backend, rendered_prompt: str, generated: str, top_k: int) -> dict:
    """Chat `logprobs.content`: each reply token with its log-probability and top alternatives."""
    prompt_ids, generated_ids = backend.encode(rendered_prompt), backend.encode(generated)
    values, tops, _ = score_ids(backend, prompt_ids + generated_ids, max(top_k, 0), with_next=False)
    content = []
    for offset, token_id in enumerate(generated_ids):
        i = len(prompt_ids) + offset
        token = backend.tokenizer.decode([token_id])
        alternatives = [{"token": t, "logprob": v, "bytes": list(t.encode("utf-8"))} for t, v in (tops[i] or {}).items()]
        content.append({"token": token, "logprob": values[i], "bytes": list(token.encode("utf-8")),
                        "top_logprobs": alternatives})
    return {"content": content}
