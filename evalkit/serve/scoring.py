"""Token-level decoding with log-probabilities, for replies that carry `logprobs`.

Every token a reply reports is a token this loop fed the model, so a client that
sums a span of `token_logprobs` gets exactly what the model assigns, and the
generated tokens' log-probabilities are those of the tokens actually chosen (not
of the text re-encoded). Prompt tokens are scored in one forward pass of the
transformers backend's own decoder and LM head, so a span's sum equals the
backend's log-likelihood to float32 rounding.

Scoring clients (lm-eval `local-completions`, anything written against vLLM)
send `echo` with `max_tokens=N` and read the reply as prompt tokens followed by
exactly N generated ones, dropping the last N. So with `echo` the loop ignores
end-of-sequence (vLLM's `ignore_eos`): when EOS is the most likely next token it
is reported as a token (with empty text) and decoding goes on. Without `echo`
EOS ends the reply as usual. Stop strings end a reply in both cases.

`decode_many` takes the requests that are waiting together: those that generate at
most one token (what scoring clients send) share right-padded forwards of near-equal
length, as the backend's own scoring does (under the causal mask real tokens never see
the padding); the others decode one at a time on their own cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch

from evalkit.backends.tokens import length_batches

HEAD_CHUNK = 1024  # prompt positions per LM-head call: bounds the [positions, vocab] logits in memory


@dataclass
class Decoded:
    """A prompt's token scores (with `echo`) followed by the generated tokens'."""

    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float | None] = field(default_factory=list)
    tops: list[dict[int, float] | None] = field(default_factory=list)
    n_prompt: int = 0
    finish_reason: str = "length"

    @property
    def generated_ids(self) -> list[int]:
        return self.token_ids[self.n_prompt:]


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    top_k: int = 0  # alternatives reported per token
    echo: bool = False


@torch.inference_mode()
def decode(backend, prompt_ids: list[int], sampling: Sampling) -> Decoded:
    """Score the prompt (with echo) and generate up to `max_tokens` tokens, each with its log-probability."""
    if not prompt_ids:
        raise ValueError("the prompt has no tokens")
    out = Decoded(n_prompt=len(prompt_ids) if sampling.echo else 0)
    # The last prompt token is read only when something is generated after it: scoring a prompt alone
    # (echo, max_tokens=0) reads one position fewer, so a window of max_length + 1 tokens fits the model.
    read = prompt_ids if sampling.max_tokens > 0 else prompt_ids[:-1]
    if not read:
        out.token_ids, out.logprobs, out.tops = list(prompt_ids), [None], [None]
        return out
    decoded = backend.decoder(input_ids=torch.tensor([read], device=backend.device), use_cache=True)
    hidden = decoded.last_hidden_state[0]
    if sampling.echo:
        _echo_scores(backend, prompt_ids, sampling, hidden, out)
    cache, last, position = decoded.past_key_values, hidden[-1:], len(prompt_ids)
    generator = torch.Generator().manual_seed(sampling.seed)
    eos_ids = _eos_ids(backend)
    for step in range(sampling.max_tokens):
        logprobs = backend._logprobs(last)
        token = choose(logprobs[0], sampling, generator)
        if token in eos_ids and not sampling.echo:
            out.finish_reason = "stop"
            break
        out.token_ids.append(token)
        out.logprobs.append(float(logprobs[0, token]))
        out.tops += _tops(logprobs, sampling.top_k)
        if _hit_stop(backend, out.generated_ids, sampling.stop):
            out.finish_reason = "stop"
            break
        if step + 1 < sampling.max_tokens:
            step_out = backend.decoder(input_ids=torch.tensor([[token]], device=backend.device),
                                       position_ids=torch.tensor([[position]], device=backend.device),
                                       past_key_values=cache, use_cache=True)
            cache, last, position = step_out.past_key_values, step_out.last_hidden_state[0, -1:], position + 1
    return out


def _echo_scores(backend, prompt_ids: list[int], sampling: Sampling, hidden: torch.Tensor, out: Decoded) -> None:
    """The prompt's own tokens with their log-probabilities (none for the first), from its hidden states."""
    out.token_ids, out.logprobs, out.tops = list(prompt_ids), [None], [None]
    for start in range(0, len(prompt_ids) - 1, HEAD_CHUNK):
        logprobs = backend._logprobs(hidden[start : min(start + HEAD_CHUNK, len(prompt_ids) - 1)])
        targets = torch.tensor(prompt_ids[start + 1 : start + 1 + logprobs.shape[0]], device=backend.device)
        out.logprobs += logprobs.gather(1, targets[:, None]).squeeze(1).double().tolist()
        out.tops += _tops(logprobs, sampling.top_k)


@torch.inference_mode()
def decode_many(backend, items: list[tuple[list[int], Sampling]]) -> list[Decoded | Exception]:
    """`decode` for each (prompt ids, sampling), batching the prompt forwards of those that generate at
    most one token; a request that fails gets its exception in its place, the others their results.
    A backend with its own engine (vLLM) decodes them all in one call of its `decode_tokens`."""
    if hasattr(backend, "decode_tokens"):
        return [r if isinstance(r, Exception) else Decoded(**r) for r in backend.decode_tokens(items)]
    results: list[Decoded | Exception | None] = [None] * len(items)
    short = []
    for i, (ids, sampling) in enumerate(items):
        if sampling.max_tokens <= 1 and len(ids) > 1:
            short.append(i)
        else:
            results[i] = _safely(partial(decode, backend, ids, sampling))

    def read(i: int) -> int:  # positions a row reads: the last prompt token only when a token follows it
        return len(items[i][0]) - (items[i][1].max_tokens <= 0)

    ordered = sorted(short, key=lambda i: -read(i))
    for batch in length_batches(ordered, read, backend.token_budget, backend.batch_size):
        rows = [items[i][0][: read(i)] for i in batch]
        try:
            ids, _ = backend._pad(rows)
            hidden = backend.decoder(input_ids=ids, use_cache=False).last_hidden_state
        except Exception as err:  # this batch's clients get the reason; the other batches go on
            for i in batch:
                results[i] = err
            continue
        for r, i in enumerate(batch):
            results[i] = _safely(partial(_score_read, backend, *items[i], hidden[r, : len(rows[r])]))
    return results


def _score_read(backend, prompt_ids: list[int], sampling: Sampling, hidden: torch.Tensor) -> Decoded:
    """A prompt whose positions were read in a batch: its echoed scores and at most one generated token."""
    out = Decoded(n_prompt=len(prompt_ids) if sampling.echo else 0)
    if sampling.echo:
        _echo_scores(backend, prompt_ids, sampling, hidden, out)
    if sampling.max_tokens <= 0:
        return out
    logprobs = backend._logprobs(hidden[-1:])
    token = choose(logprobs[0], sampling, torch.Generator().manual_seed(sampling.seed))
    if token in _eos_ids(backend) and not sampling.echo:
        out.finish_reason = "stop"
        return out
    out.token_ids.append(token)
    out.logprobs.append(float(logprobs[0, token]))
    out.tops += _tops(logprobs, sampling.top_k)
    if _hit_stop(backend, out.generated_ids, sampling.stop):
        out.finish_reason = "stop"
    return out


def _safely(compute):
    try:
        return compute()
    except Exception as err:
        return err


def choose(logprobs: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    """Greedy at temperature 0; otherwise nucleus sampling with the request's own seeded generator."""
    if sampling.temperature <= 0:
        return int(logprobs.argmax())
    probs = torch.softmax(logprobs.float().cpu() / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:  # keep the smallest set of tokens whose mass reaches top_p
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(0) - sorted_probs < sampling.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _tops(logprobs: torch.Tensor, top_k: int) -> list[dict[int, float] | None]:
    if top_k <= 0:
        return [None] * logprobs.shape[0]
    best = logprobs.topk(top_k, dim=-1)
    return [dict(zip(ids, values)) for values, ids in zip(best.values.tolist(), best.indices.tolist())]


def _eos_ids(backend) -> set[int]:
    ids = {backend.tokenizer.eos_token_id}
    config_eos = getattr(getattr(backend.model, "generation_config", None), "eos_token_id", None)
    ids.update(config_eos if isinstance(config_eos, list) else [config_eos])
    return {i for i in ids if i is not None}


def _hit_stop(backend, tokens: list[int], stops: tuple[str, ...]) -> bool:
    if not stops or not tokens:
        return False
    longest = max(len(s) for s in stops)  # only the tail can hold a stop string that was not there before
    tail = backend.tokenizer.decode(tokens[-(longest + 8):], skip_special_tokens=True)
    return any(stop in tail for stop in stops)
