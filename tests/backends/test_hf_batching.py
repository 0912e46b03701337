"""Batches of unequal rows: right padding without a mask must leave real tokens' scores unchanged."""

from dataclasses import replace

import pytest
import torch

from evalkit.backends.hf import HFBackend
from evalkit.backends.tokens import MAX_PADDING, length_batches
from evalkit.config import ModelSpec
from evalkit.types import LoglikelihoodRequest, RollingRequest

WORDS = "the quick brown fox jumps over a lazy dog while clips sold in April".split()


def backend(folder, batch_size):
    return HFBackend(replace(ModelSpec(name="tiny", source=str(folder)), batch_size=batch_size), folder)


def texts_of_close_lengths(n=6, base=40):
    """Documents whose lengths differ by a few words, so they share padded batches."""
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(base + i)) for i in range(n)]


def plain_logprob(be, tokens):
    ids = torch.tensor([[be.prefix_token] + tokens[:-1]])
    with torch.no_grad():
        logprobs = be.model(ids).logits[0].float().log_softmax(-1)
    return float(logprobs.gather(1, torch.tensor(tokens)[:, None]).sum())


def test_length_batches_bound_padding_rows_and_budget():
    lengths = [100, 98, 95, 90, 87, 60, 59, 10, 10, 10, 10, 10]
    batches = list(length_batches(lengths, lambda n: n, budget=400, max_rows=3))
    assert [n for batch in batches for n in batch] == lengths  # every item once, order kept
    for batch in batches:
        assert len(batch) <= 3 and len(batch) * batch[0] <= 400
        assert all(n >= (1 - MAX_PADDING) * batch[0] for n in batch)
    assert [60, 59] in batches  # close lengths do share a batch


def test_rolling_in_padded_batches_equals_plain_forward(tiny_model_dir):
    texts = texts_of_close_lengths()
    be = backend(tiny_model_dir, batch_size=16)
    lengths = [len(be.encode(t)) for t in texts]
    assert len(set(lengths)) > 1, f"test needs unequal lengths, got {lengths}"
    results = dict(be.loglikelihood_rolling([RollingRequest(t) for t in texts]))
    for i, text in enumerate(texts):
        assert results[i].logprob == pytest.approx(plain_logprob(be, be.encode(text)), abs=1e-4)


def test_multi_token_continuations_in_padded_batches_equal_plain_forward(tiny_model_dir):
    contexts = texts_of_close_lengths(n=5, base=12)
    reqs = [LoglikelihoodRequest(c, k) for c in contexts for k in (" dog", " over a lazy dog")]
    by_size = [dict(backend(tiny_model_dir, batch_size=size).loglikelihood(reqs)) for size in (1, 16)]
    be = backend(tiny_model_dir, batch_size=1)
    for i, request in enumerate(reqs):
        whole = be.encode(request.context + request.continuation)
        n_context = len(be.encode(request.context))
        ids = torch.tensor([whole[:-1]])
        with torch.no_grad():
            logprobs = be.model(ids).logits[0].float().log_softmax(-1)
        expected = sum(float(logprobs[n_context - 1 + j, t]) for j, t in enumerate(whole[n_context:]))
        for results in by_size:
            assert results[i].logprob == pytest.approx(expected, abs=1e-4)
