"""A small decoding loop over the transformers decoder.

Our own loop rather than `model.generate` because we need three things it does
not give together: a seeded generator per request (sampled outputs do not depend
on which other requests share the batch), stop strings checked on the decoded
text of each row, and rows leaving the batch as soon as they finish.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from evalkit.types import Generation, GenerationRequest


def generate_batch(backend, prompts: Sequence[list[int]], requests: Sequence[GenerationRequest]) -> list[Generation]:
    device = backend.device
    eos_ids = _eos_ids(backend)
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), backend.pad_token, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left padding: every row's next token is at the last column
        ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    generators = [torch.Generator().manual_seed(r.seed) for r in requests]
    generated: list[list[int]] = [[] for _ in prompts]
    finish = ["length"] * len(prompts)
    active = list(range(len(prompts)))
    out = backend.decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
    cache, next_position = out.past_key_values, positions[:, -1] + 1
    hidden = out.last_hidden_state[:, -1]
    while active:
        logprobs = backend._logprobs(hidden)
        still = []
        for slot, row in enumerate(active):
            token = _choose(logprobs[slot], requests[row], generators[row])
            if token in eos_ids:
                finish[row] = "stop"
                continue
            generated[row].append(token)
            if _hit_stop(backend, generated[row], requests[row].stop):
                finish[row] = "stop"
            elif len(generated[row]) < requests[row].max_new_tokens:
                still.append(slot)
        if not still:
            break
        keep = torch.tensor(still, device=device)
        if len(still) < len(active):
            cache.batch_select_indices(keep)
            mask, next_position = mask[keep], next_position[keep]
        active = [active[slot] for slot in still]
        step_ids = torch.tensor([[generated[row][-1]] for row in active], device=device)
        mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=device)], dim=1)
        out = backend.decoder(input_ids=step_ids, attention_mask=mask, position_ids=next_position[:, None],
                              past_key_values=cache, use_cache=True)
        cache, next_position = out.past_key_values, next_position + 1
        hidden = out.last_hidden_state[:, -1]
    return [_finish(backend, tokens, request, reason) for tokens, request, reason in zip(generated, requests, finish)]


def _choose(logprobs: torch.Tensor, request: GenerationRequest, generator: torch.Generator) -> int:
    if request.temperature <= 0:
        return int(logprobs.argmax())
    probs = torch.softmax(logprobs.float().cpu() / request.temperature, dim=-1)
    if request.top_p < 1.0:  # nucleus: keep the smallest set of tokens whose mass reaches top_p
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(0) - sorted_probs < request.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _eos_ids(backend) -> set[int]:
    ids = {backend.tokenizer.eos_token_id}
    config_eos = getattr(getattr(backend.model, "generation_config", None), "eos_token_id", None)
    ids.update(config_eos if isinstance(config_eos, list) else [config_eos])
    return {i for i in ids if i is not None}


def _hit_stop(backend, tokens: list[int], stops: Sequence[str]) -> bool:
    if not stops:
        return False
    # Only the tail can contain a stop string that was not there one token ago.
    longest = max(len(s) for s in stops)
    tail = backend.tokenizer.decode(tokens[-(longest + 8):], skip_special_tokens=False)
    return any(stop in tail for stop in stops)


def _finish(backend, tokens: list[int], request: GenerationRequest, reason: str) -> Generation:
    text = backend.tokenizer.decode(tokens, skip_special_tokens=True)
    for stop in request.stop:
        cut = text.find(stop)
        if cut != -1:
            text = text[:cut]
    return Generation(text=text, n_tokens=len(tokens), finish_reason=reason)
