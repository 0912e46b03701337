"""The hf backend's rolling log-likelihood gives each document's tokens and their log-probabilities in
document order, across windows and batch sizes (what the rare-vs-common-token split reads)."""

from dataclasses import replace

import pytest
import torch

from evalkit.backends.hf import HFBackend
from evalkit.backends.tokens import rolling_windows
from evalkit.config import ModelSpec
from evalkit.types import RollingRequest

TEXTS = ["The capital of France is Paris, and the capital of Italy is Rome. " * k for k in (1, 4)] + ["short"]


@pytest.mark.parametrize("batch_size", [1, 8])
def test_per_token_logprobs_follow_the_document_across_windows(tiny_model_dir, batch_size):
    be = HFBackend(replace(ModelSpec(name="tiny", source=str(tiny_model_dir)), batch_size=batch_size, max_length=32),
                   tiny_model_dir)
    results = dict(be.loglikelihood_rolling([RollingRequest(t) for t in TEXTS]))
    for index, text in enumerate(TEXTS):
        result, tokens = results[index], be.encode(text)
        assert result.token_ids == tuple(tokens) and len(result.token_logprobs) == len(tokens)
        assert sum(result.token_logprobs) == pytest.approx(result.logprob, abs=1e-4)
        expected = []  # each window scored alone with a plain forward, in order
        for ctx, pred in rolling_windows(tokens, be.prefix_token, 32):
            with torch.no_grad():
                logits = be.model(torch.tensor([(ctx + pred)[:-1]])).logits[0].float().log_softmax(-1)
            expected += [float(logits[len(ctx) - 1 + i, t]) for i, t in enumerate(pred)]
        assert list(result.token_logprobs) == pytest.approx(expected, abs=1e-3)
