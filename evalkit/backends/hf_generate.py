"""A small decoding loop over the transformers decoder.

Our own loop rather than `model.generate` because we need three things it does
not give together: a seeded generator per request (sampled outputs do not depend
on which other requests share the batch), stop strings checked on the decoded
text of each row, and rows leaving the batch as soon as they finish.

Two things keep it fast on a CPU. Prompts are read right-padded in batches of
near-equal length without a padding mask (exact for real tokens under the
causal mask, and on the fused attention kernel); their keys and values are then
moved to the right end of each row, so that every row's next token is in the
same column, as with left padding. And the cache is allocated once for the
whole generation: transformers' DynamicCache appends each new token with
torch.cat, copying the whole cache of every layer at every step, which at 16
rows of 1,000-token prompts costs more than the model itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from evalkit.backends.tokens import TOKEN_BUDGET, cut_at_stops, length_batches
from evalkit.types import Generation, GenerationRequest


def generate_batch(backend, prompts: Sequence[list[int]], requests: Sequence[GenerationRequest]) -> list[Generation]:
    device = backend.device
    eos_ids = _eos_ids(backend)
    width = max(len(p) for p in prompts)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):  # left-aligned: every row's next token is at the last column
        mask[row, width - len(prompt):] = 1
    mask = mask.to(device)
    capacity = width + max(r.max_new_tokens for r in requests)
    cache, hidden = prefill(backend, prompts, capacity)
    next_position = torch.tensor([len(p) for p in prompts], device=device)
    generators = [torch.Generator().manual_seed(r.seed) for r in requests]
    generated: list[list[int]] = [[] for _ in prompts]
    finish = ["length"] * len(prompts)
    active = list(range(len(prompts)))
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
        next_position = next_position + 1
        hidden = out.last_hidden_state[:, -1]
    return [_finish(backend, tokens, request, reason) for tokens, request, reason in zip(generated, requests, finish)]


def prefill(backend, prompts: Sequence[list[int]], capacity: int):
    """Read the prompts; returns a cache holding each row's keys and values right-aligned at column
    max(len) with room up to `capacity`, and each row's last hidden state."""
    width = max(len(p) for p in prompts)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    buffers: list[tuple[torch.Tensor, torch.Tensor]] = []
    last: list[torch.Tensor] = [torch.empty(0)] * len(prompts)
    for batch in length_batches(order, lambda i: len(prompts[i]), TOKEN_BUDGET, len(prompts)):
        ids = torch.full((len(batch), len(prompts[batch[0]])), backend.pad_token, dtype=torch.long)
        for j, i in enumerate(batch):
            ids[j, : len(prompts[i])] = torch.tensor(prompts[i], dtype=torch.long)
        out = backend.decoder(input_ids=ids.to(backend.device), use_cache=True)
        layers = out.past_key_values.layers
        if not plain_dynamic(out.past_key_values):
            return _prefill_left_padded(backend, prompts)  # sliding-window and other caches: the general path
        if not buffers:
            buffers = [tuple(t.new_zeros(len(prompts), t.shape[1], capacity, t.shape[3]) for t in (l.keys, l.values))
                       for l in layers]
        for j, i in enumerate(batch):
            n = len(prompts[i])
            for (keys, values), layer in zip(buffers, layers):
                keys[i, :, width - n : width] = layer.keys[j, :, :n]
                values[i, :, width - n : width] = layer.values[j, :, :n]
            last[i] = out.last_hidden_state[j, n - 1]
    cache = DynamicCache()
    cache.layers = [PreallocatedLayer(keys, values, width) for keys, values in buffers]
    return cache, torch.stack(last)


def _prefill_left_padded(backend, prompts: Sequence[list[int]]):
    """One left-padded batch with a padding mask: right for any cache type, slower on a CPU."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), backend.pad_token, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    ids, mask = ids.to(backend.device), mask.to(backend.device)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    out = backend.decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
    return out.past_key_values, out.last_hidden_state[:, -1]


def repeat_cache(cache, rows: int):
    """A fresh cache whose `rows` rows all start from `cache`'s single row (a shared prefix): views, no
    copies; each layer's first update concatenates into new tensors, so `cache` itself stays as it was."""
    repeated = DynamicCache()
    layers = []
    for layer in cache.layers:
        copy = DynamicLayer()
        copy.dtype, copy.device, copy.is_initialized = layer.keys.dtype, layer.keys.device, True
        copy.keys, copy.values = layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1)
        layers.append(copy)
    repeated.layers = layers
    return repeated


def plain_dynamic(cache) -> bool:
    """Whether every layer is a plain DynamicLayer (not sliding-window, quantised or offloaded)."""
    return all(type(layer) is DynamicLayer for layer in cache.layers)


class PreallocatedLayer(DynamicLayer):
    """A cache layer whose keys and values are views of a buffer sized for the whole
    generation: a new token is written in place instead of concatenated."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self.buffers, self.length = (keys, values), length
        self._refresh()

    def _refresh(self) -> None:
        keys, values = self.buffers
        self.keys, self.values = keys[:, :, : self.length], values[:, :, : self.length]

    def update(self, key_states, value_states, *args, **kwargs):
        keys, values = self.buffers
        end = self.length + key_states.shape[-2]
        if end > keys.shape[-2]:
            raise RuntimeError(f"the cache was sized for {keys.shape[-2]} positions, {end} are needed")
        keys[:, :, self.length : end] = key_states
        values[:, :, self.length : end] = value_states
        self.length = end
        self._refresh()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.buffers = tuple(b[indices] for b in self.buffers)
        self._refresh()

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.batch_select_indices(beam_idx)


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
    text = cut_at_stops(backend.tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
    return Generation(text=text, n_tokens=len(tokens), finish_reason=reason)
