"""The transformers backend against a plain full forward pass, at several batch sizes."""

from dataclasses import replace

import pytest
import torch

from evalkit.backends.hf import HFBackend
from evalkit.backends.tokens import rolling_windows
from evalkit.config import ModelSpec
from evalkit.errors import ConfigError
from evalkit.types import GenerationRequest, LoglikelihoodRequest, RollingRequest

CONTEXTS = ["The capital of France is", "Question: What is 2 + 2?\nAnswer:", "", "def add(a, b):\n   ",
            "A journey of a thousand miles begins with a single step. " * 3]
CONTINUATIONS = [" Paris", " Rome.", " 4", " the quick brown fox jumps over the lazy dog", "x"]


def requests():
    return [LoglikelihoodRequest(c, k) for c in CONTEXTS for k in CONTINUATIONS]


def backend(folder, batch_size=8, **overrides):
    return HFBackend(replace(ModelSpec(name="tiny", source=str(folder)), batch_size=batch_size, **overrides), folder)


def reference_logprob(be, request):
    """One unbatched full forward per request, the textbook way."""
    from evalkit.backends.tokens import encode_pair

    ctx, cont = encode_pair(be.encode, request.context, request.continuation, be.prefix_token)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logits = be.model(ids).logits[0].float().log_softmax(-1)
    return sum(float(logits[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))


def collect(iterator, n):
    out = [None] * n
    for index, result in iterator:
        assert out[index] is None, f"request {index} answered twice"
        out[index] = result
    assert None not in out
    return out


def test_loglikelihood_matches_plain_forward(tiny_model_dir):
    be = backend(tiny_model_dir)
    reqs = requests()
    results = collect(be.loglikelihood(reqs), len(reqs))
    for request, result in zip(reqs, results):
        assert result.logprob == pytest.approx(reference_logprob(be, request), abs=1e-4)
        assert result.logprob < 0


@pytest.mark.parametrize("batch_size", [1, 8, 32])
def test_loglikelihood_independent_of_batch_size(tiny_model_dir, batch_size):
    reqs = requests()
    base = collect(backend(tiny_model_dir, batch_size=3).loglikelihood(reqs), len(reqs))
    other = collect(backend(tiny_model_dir, batch_size=batch_size).loglikelihood(reqs), len(reqs))
    for a, b in zip(base, other):
        assert abs(a.logprob - b.logprob) < 1e-4
        assert a.is_greedy == b.is_greedy


def test_rolling_windows_predict_every_token_once():
    tokens = list(range(100, 137))
    for max_length, stride in [(8, None), (8, 3), (50, None), (1, None)]:
        windows = list(rolling_windows(tokens, 1, max_length, stride))
        predicted = [t for _, pred in windows for t in pred]
        assert predicted == tokens
        for ctx, pred in windows:
            assert len(ctx) + len(pred) - 1 <= max_length


def test_a_stride_beyond_the_window_is_one_config_line():
    with pytest.raises(ConfigError, match=r"\[perplexity\]\.stride = 9 .* between 1 and 8"):
        list(rolling_windows(list(range(20)), 1, 8, 9))


def test_a_request_stride_overlaps_windows_and_sees_more_context(tiny_model_dir):
    text = " ".join(CONTEXTS) * 6
    be = backend(tiny_model_dir, max_length=64)
    disjoint, strided = collect(be.loglikelihood_rolling([RollingRequest(text), RollingRequest(text, stride=16)]), 2)
    tokens = be.encode(text)
    expected = 0.0
    for ctx, pred in rolling_windows(tokens, be.prefix_token, 64, 16):
        ids = torch.tensor([(ctx + pred)[:-1]])
        with torch.no_grad():
            logits = be.model(ids).logits[0].float().log_softmax(-1)
        expected += sum(float(logits[len(ctx) - 1 + i, t]) for i, t in enumerate(pred))
    assert strided.n_tokens == disjoint.n_tokens == len(tokens)
    assert strided.logprob == pytest.approx(expected, abs=1e-3)
    assert abs(strided.logprob - disjoint.logprob) > 1e-3  # more context per prediction: a different score


@pytest.mark.parametrize("batch_size", [1, 8, 32])
def test_rolling_equals_sum_over_tokens_and_ignores_batching(tiny_model_dir, batch_size):
    texts = [" ".join(CONTEXTS) * k for k in (1, 3, 6)] + ["short"]
    be = backend(tiny_model_dir, batch_size=batch_size, max_length=64)
    results = collect(be.loglikelihood_rolling([RollingRequest(t) for t in texts]), len(texts))
    for text, result in zip(texts, results):
        tokens = be.encode(text)
        assert result.n_tokens == len(tokens)
        # Score the same windows one by one with a plain forward.
        expected = 0.0
        for ctx, pred in rolling_windows(tokens, be.prefix_token, 64):
            ids = torch.tensor([(ctx + pred)[:-1]])
            with torch.no_grad():
                logits = be.model(ids).logits[0].float().log_softmax(-1)
            expected += sum(float(logits[len(ctx) - 1 + i, t]) for i, t in enumerate(pred))
        assert result.logprob == pytest.approx(expected, abs=1e-3)


def test_greedy_generation_matches_transformers_generate(tiny_model_dir):
    be = backend(tiny_model_dir, batch_size=4)
    prompts = ["The capital of", "def add(a, b):", "A journey", "Question: What is 2 + 2?\nAnswer:", "x"]
    reqs = [GenerationRequest(p, max_new_tokens=12) for p in prompts]
    results = collect(be.generate(reqs), len(reqs))
    for prompt, result in zip(prompts, results):
        ids = torch.tensor([be.encode(prompt)])
        out = be.model.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=be.tokenizer.eos_token_id,
                                pad_token_id=be.pad_token)
        expected = be.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        assert result.text == expected


def test_generation_stops_at_stop_string_and_batches_agree(tiny_model_dir):
    prompts = ["The capital of", "def add(a, b):", "A journey", "Question:"]
    first = collect(backend(tiny_model_dir, batch_size=1).generate(
        [GenerationRequest(p, max_new_tokens=20) for p in prompts]), 4)
    stop = first[0].text[3:6]
    assert stop, "the tiny model produced too little text to test stop strings"
    reqs = [GenerationRequest(p, max_new_tokens=20, stop=(stop,)) for p in prompts]
    for batch_size in (1, 4):
        results = collect(backend(tiny_model_dir, batch_size=batch_size).generate(reqs), 4)
        assert results[0].text == first[0].text[: first[0].text.find(stop)]
        assert results[0].finish_reason == "stop"
        for result in results:
            assert stop not in result.text


def test_sampling_is_seeded_per_request(tiny_model_dir):
    reqs = [GenerationRequest("The", max_new_tokens=10, temperature=1.0, seed=s) for s in (1, 2, 1)]
    for batch_size in (1, 3):
        texts = [r.text for r in collect(backend(tiny_model_dir, batch_size=batch_size).generate(reqs), 3)]
        assert texts[0] == texts[2]
    alone = collect(backend(tiny_model_dir, batch_size=1).generate(reqs[:1]), 1)[0].text
    assert alone == texts[0]


def test_each_context_is_read_in_one_row_with_its_continuations(tiny_model_dir, monkeypatch):
    """Packed rows give the textbook values, once the first packed row is seen to read as the cache path
    does; rows whose continuations add at most one context's worth of tokens need no mask."""
    from evalkit.backends.hf import packed_length, packed_rows, tree_mask

    be = backend(tiny_model_dir)
    paths = []
    for name in ("_score_groups", "_score_packed"):
        method = getattr(be, name)
        monkeypatch.setattr(be, name, lambda batch, *rest, _m=method, _n=name: paths.append(_n) or _m(batch, *rest))
    reqs = requests() + [LoglikelihoodRequest("Two words", " and three more"),
                         LoglikelihoodRequest("Two words", " and three less"), LoglikelihoodRequest("Two words", " and")]
    results = collect(be.loglikelihood(reqs), len(reqs))
    assert be.packs is True and paths.count("_score_groups") == 1 and paths.count("_score_packed") > 1
    for request, result in zip(reqs, results):
        assert result.logprob == pytest.approx(reference_logprob(be, request), abs=1e-4)
    rows, wanted = packed_rows([[((1, 2, 3), [(0, [7, 8, 9]), (1, [4]), (2, [5, 6])])]])
    assert rows == [([1, 2, 3, 7, 8, 5], [0, 1, 2, 3, 4, 3], [-1, 0, 1, 2, 3, 2])]
    assert [(i, at) for i, _, at, _ in wanted] == [(0, [2, 3, 4]), (1, [2]), (2, [2, 5])]
    # continuations that start alike share those tokens: [7, 8] and [7, 5] branch after the 7
    bundle = [((1, 2, 3), [(0, [7, 8, 9]), (1, [7, 5, 6])])]
    rows, wanted = packed_rows([bundle])
    assert rows == [([1, 2, 3, 7, 8, 5], [0, 1, 2, 3, 4, 4], [-1, 0, 1, 2, 3, 3])] and packed_length(bundle) == 6
    assert [(i, at) for i, _, at, _ in wanted] == [(0, [2, 3, 4]), (1, [2, 3, 5])]
    mask = tree_mask(rows[0][2], 7)
    assert mask[5].tolist() == [True, True, True, True, False, True, False]  # the 5 sees 1 2 3 7, not the 8
    assert mask[6].tolist() == [False] * 6 + [True]  # padding sees itself only


def test_contexts_that_differ_at_their_end_share_one_row(tiny_model_dir):
    """Winogrande's two options sit inside the context: the words before them are read once."""
    from evalkit.backends.hf import packed_rows, tree_mask

    rows, wanted = packed_rows([[((1, 2, 3, 4), [(0, [6, 7])]), ((1, 2, 3, 5), [(1, [6, 7])])]])
    assert rows == [([1, 2, 3, 4, 6, 5, 6], [0, 1, 2, 3, 4, 3, 4], [-1, 0, 1, 2, 3, 2, 5])]
    assert [(i, at) for i, _, at, _ in wanted] == [(0, [3, 4]), (1, [5, 6])]
    assert tree_mask(rows[0][2], 7)[6].tolist() == [True, True, True, False, False, True, True]
    be = backend(tiny_model_dir)
    stem = "The trophy did not fit into the brown suitcase because the"
    reqs = [LoglikelihoodRequest(f"{stem} {option}", " was too large.") for option in ("trophy", "suitcase")]
    reqs += [LoglikelihoodRequest(f"{stem} {option}", " was too small.") for option in ("trophy", "suitcase")]
    results = collect(be.loglikelihood(reqs), len(reqs))
    assert be.packs is True
    for request, result in zip(reqs, results):
        assert result.logprob == pytest.approx(reference_logprob(be, request), abs=1e-4)


def test_a_model_that_reads_packed_rows_differently_keeps_the_shared_path(tiny_model_dir, monkeypatch):
    be = backend(tiny_model_dir)
    honest = be._score_packed

    def skewed(batch):  # what a decoder that ignores the 4D mask or the positions would give
        for index, result in honest(batch):
            yield index, replace(result, logprob=result.logprob - 0.5)

    monkeypatch.setattr(be, "_score_packed", skewed)
    chain = [LoglikelihoodRequest(CONTEXTS[0], " Paris")]  # one continuation: no mask, nothing to check yet
    collect(be.loglikelihood(chain), 1)
    assert be.packs is None
    reqs = [LoglikelihoodRequest(CONTEXTS[4], k) for k in CONTINUATIONS]
    results = collect(be.loglikelihood(reqs), len(reqs))
    assert be.packs is False
    for request, result in zip(reqs, results):
        assert result.logprob == pytest.approx(reference_logprob(be, request), abs=1e-4)
