"""Continuous batching: outputs independent of batch size, arrival order, the cache budget and prefix sharing."""

import random
from dataclasses import replace

import torch

from evalkit.backends import hf_cache, hf_generate
from evalkit.backends.hf import HFBackend
from evalkit.backends.hf_cache import SlotCache
from evalkit.config import ModelSpec
from evalkit.types import GenerationRequest

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "clips", "sold", "in", "April",
         "and", "May"]
SHARED = " ".join(WORDS[i % len(WORDS)] for i in range(90))  # a long shared block, like few-shot examples


def backend(folder, batch_size):
    return HFBackend(replace(ModelSpec(name="tiny", source=str(folder)), batch_size=batch_size), folder)


def mixed_requests():
    """Greedy and sampled rows of different prompt lengths and token limits, so rows end at different steps."""
    requests = []
    for i in range(18):
        prompt = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(2 + 3 * i))
        sampled = i % 3 != 0
        requests.append(GenerationRequest(prompt, max_new_tokens=3 + (i * 7) % 17, temperature=1.0 if sampled else 0.0,
                                          top_p=0.9 if i % 2 else 1.0, seed=100 + i))
    return requests


def outputs(be, requests):
    return {i: (g.text, g.n_tokens, g.finish_reason) for i, g in be.generate(requests)}


def test_outputs_do_not_depend_on_batch_size_or_arrival_order(tiny_model_dir):
    requests = mixed_requests()
    alone = outputs(backend(tiny_model_dir, 1), requests)
    assert len(alone) == len(requests)
    assert len({alone[i][0] for i in range(len(requests)) if requests[i].temperature > 0}) > 5, "samples look alike"
    for batch_size in (4, 16):
        assert outputs(backend(tiny_model_dir, batch_size), requests) == alone
    order = list(range(len(requests)))
    random.Random(7).shuffle(order)
    shuffled = outputs(backend(tiny_model_dir, 4), [requests[i] for i in order])
    assert {order[j]: result for j, result in shuffled.items()} == alone


def test_greedy_rows_equal_transformers_generate_one_by_one(tiny_model_dir):
    be = backend(tiny_model_dir, 3)
    requests = [r for r in mixed_requests() if r.temperature == 0]
    results = outputs(be, requests)
    for i, request in enumerate(requests):
        ids = torch.tensor([be.encode(request.prompt)])
        out = be.model.generate(ids, max_new_tokens=request.max_new_tokens, do_sample=False,
                                eos_token_id=be.tokenizer.eos_token_id, pad_token_id=be.pad_token)
        assert results[i][0] == be.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def test_a_waiting_request_takes_the_slot_of_one_that_ended(tiny_model_dir):
    be = backend(tiny_model_dir, 2)
    requests = [GenerationRequest("The quick", max_new_tokens=2), GenerationRequest("A lazy dog", max_new_tokens=30),
                GenerationRequest("clips sold", max_new_tokens=4)]
    events = []
    finished = {}
    for index, generation in be.generate(requests, on_token=lambda i, t: events.append(i)):
        finished[index] = generation
    assert finished[1].n_tokens == 30, "the long row must run to its limit for this test"
    assert events.index(2) < len(events) - 1 - events[::-1].index(1)  # the third started before the second ended
    assert [events.count(i) for i in range(3)] == [g.n_tokens for g in (finished[0], finished[1], finished[2])]


def test_a_small_cache_budget_preempts_and_gives_the_same_outputs(tiny_model_dir, monkeypatch):
    requests = mixed_requests()
    expected = outputs(backend(tiny_model_dir, 8), requests)
    shapes, removed = [], []

    class Recording(SlotCache):
        def reserve(self, rows, width, like=None):
            super().reserve(rows, width, like)
            shapes.append(self.shape)

        def remove(self, row):
            removed.append(row)
            super().remove(row)

    budget = 200
    monkeypatch.setattr(hf_generate, "SlotCache", Recording)
    monkeypatch.setattr(hf_generate, "GENERATION_CACHE_TOKENS", budget)
    for module in (hf_generate, hf_cache):  # small growth steps, so rows outgrow the budget while running
        monkeypatch.setattr(module, "GROW", 2)
    assert outputs(backend(tiny_model_dir, 8), requests) == expected
    assert all(rows * columns <= budget for rows, columns in shapes if rows > 1), shapes
    assert max(rows for rows, _ in shapes) > 1, "the budget left no batching at all"
    assert len(removed) > len(requests), "no row was preempted: the test does not test preemption"


def test_slot_cache_reserve_stays_within_budget_and_keeps_rows():
    cache = SlotCache(n_layers=1, budget=400, max_rows=8)
    prefill = type("Prefill", (), {})()
    layer = type("Layer", (), {})()
    layer.keys = layer.values = torch.arange(2 * 10, dtype=torch.float32).reshape(2, 1, 10, 1)
    prefill.layers = [layer]
    cache.reserve(2, 11, prefill)
    cache.append(prefill, [10, 6])
    assert cache.shape[0] * cache.shape[1] <= 400 and cache.shape[1] >= 11
    cache.reserve(2, 150)  # outgrows the columns: reallocated, rows copied
    assert cache.shape[0] * cache.shape[1] <= 400 and cache.shape[1] >= 150
    keys = cache.layers[0].buffers[0]
    assert torch.equal(keys[1, 0, :6, 0], layer.keys[1, 0, :6, 0])
    cache.remove(0)  # the last row takes the freed slot
    assert cache.rows == 1 and torch.equal(keys[0, 0, :6, 0], layer.keys[1, 0, :6, 0])


def test_shared_prefix_is_read_once_and_changes_nothing(tiny_model_dir):
    be = backend(tiny_model_dir, 4)
    questions = ["clips sold in April", "a lazy dog", "the brown fox jumps", "over the dog while"]
    requests = [GenerationRequest(f"{SHARED} {q}", max_new_tokens=6) for q in questions]
    read = []
    hook = be.decoder.register_forward_hook(lambda module, args, kwargs, out: read.append(kwargs["input_ids"].numel()),
                                            with_kwargs=True)
    try:
        shared = outputs(be, requests)
    finally:
        hook.remove()
    prompt_tokens = sum(len(be.encode(r.prompt)) for r in requests)
    assert sum(read) < prompt_tokens * 0.5, f"read {sum(read)} tokens for {prompt_tokens} prompt tokens"
    alone = {i: outputs(be, [r])[0] for i, r in enumerate(requests)}
    assert shared == alone


def test_other_caches_decode_one_row_at_a_time_with_the_same_outputs(tiny_model_dir):
    requests = mixed_requests()[:8]
    be = backend(tiny_model_dir, 4)
    expected = outputs(be, requests)
    be._plain_generation_cache = False  # as for a sliding-window model
    assert outputs(be, requests) == expected


def test_zero_new_tokens_is_an_empty_generation(tiny_model_dir):
    result = outputs(backend(tiny_model_dir, 2), [GenerationRequest("The", max_new_tokens=0)])
    assert result == {0: ("", 0, "length")}


def test_a_row_longer_than_the_budget_still_runs_alone(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(hf_generate, "GENERATION_CACHE_TOKENS", 1)
    requests = mixed_requests()[:4]
    assert outputs(backend(tiny_model_dir, 4), requests) == outputs(backend(tiny_model_dir, 1), requests)


def test_requests_arriving_while_a_batch_runs_join_it_with_the_same_outputs(tiny_model_dir):
    """A server's newcomers: handed over between steps, they take free slots of the running batch."""
    requests = mixed_requests()
    alone = outputs(backend(tiny_model_dir, 1), requests)
    be, calls, live = backend(tiny_model_dir, 4), [0], []
    later = {3: [3, 4, 5, 6, 7, 8, 9, 10], 5: [11], 30: [12, 13, 14, 15, 16, 17]}  # at which call

    def arrivals():
        calls[0] += 1
        return [(i, requests[i]) for i in later.get(calls[0], [])]

    original_step = hf_generate._Batch._step

    def counting_step(batch):
        live.append(len(batch.live))
        original_step(batch)

    hf_generate._Batch._step = counting_step
    try:
        got = {i: (g.text, g.n_tokens, g.finish_reason) for i, g in be.generate(requests[:3], arrivals=arrivals)}
    finally:
        hf_generate._Batch._step = original_step
    assert got == alone
    assert max(live) == 4  # the newcomers shared the batch rather than running one after another


def test_arrivals_read_the_shared_prefix_of_a_running_family_once(tiny_model_dir):
    """A server's newcomers whose prompt starts with a live family's prefix (a few-shot block, a long
    system prompt) read only their own tokens; newcomers sharing one among themselves form a family."""
    be = backend(tiny_model_dir, 8)
    other = " ".join(reversed(WORDS)) * 6  # a second long block, first seen among the newcomers
    first = [GenerationRequest(f"{SHARED} {q}", max_new_tokens=12) for q in ("clips sold in April", "a lazy dog")]
    later = [GenerationRequest(f"{SHARED} {q}", max_new_tokens=6) for q in ("the brown fox jumps", "over the dog")]
    later += [GenerationRequest(f"{other} {q}", max_new_tokens=6) for q in ("in May", "the fox")]
    requests, calls, read = first + later, [0], []

    def arrivals():
        calls[0] += 1
        return [(2 + i, r) for i, r in enumerate(later)] if calls[0] == 2 else []

    hook = be.decoder.register_forward_hook(lambda module, args, kwargs, out: read.append(kwargs["input_ids"].shape),
                                            with_kwargs=True)
    try:
        got = {i: (g.text, g.n_tokens, g.finish_reason) for i, g in be.generate(first, arrivals=arrivals)}
    finally:
        hook.remove()
    prompt_tokens = sum(len(be.encode(r.prompt)) for r in requests)
    prompts_read = sum(rows * width for rows, width in read if width > 1)  # decode steps read one token a row
    assert prompts_read < prompt_tokens * 0.5, f"read {prompts_read} prompt tokens of {prompt_tokens}"
    assert got == {i: outputs(be, [r])[0] for i, r in enumerate(requests)}
