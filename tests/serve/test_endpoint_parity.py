"""`evalkit serve` over real HTTP, read by evalkit's endpoint backend through the real openai
client: the same numbers as the transformers backend called directly."""

import pytest

from evalkit.backends.openai_api import OpenAIBackend
from evalkit.config import ModelSpec
from evalkit.types import GenerationRequest, LoglikelihoodRequest, RollingRequest

CONTEXTS = ["The capital of France is", "Question: What is 2 + 2?\nAnswer:", "", "def add(a, b):\n   "]
CONTINUATIONS = [" Paris", " 4", " the quick brown fox jumps over the lazy dog", "x"]
DOCUMENTS = ["A journey of a thousand miles begins with a single step. " * 12, "The quick brown fox.", ""]


def collect(iterator, n):
    out = [None] * n
    for index, result in iterator:
        out[index] = result
    assert None not in out
    return out


def client(url, tiny_model_dir=None, **settings):
    spec = ModelSpec(name="served", source=url, tokenizer=str(tiny_model_dir) if tiny_model_dir else None,
                     concurrency=3, **settings)
    return OpenAIBackend(spec)


def test_greedy_generation_is_identical(direct, url):
    requests = [GenerationRequest("The capital of France is", max_new_tokens=12),
                GenerationRequest("What is 2 + 2?", max_new_tokens=16, chat=True),
                GenerationRequest("Add.", max_new_tokens=8, chat=True, system="Brief."),
                GenerationRequest("def add(a, b):", max_new_tokens=20, stop=("\n\n", "return")),
                GenerationRequest("A journey", max_new_tokens=10, temperature=0.8, seed=7)]
    expected = collect(direct.generate(requests), len(requests))
    served = collect(client(url).generate(requests), len(requests))
    for want, got in zip(expected, served):
        assert got.text == want.text
        assert got.n_tokens == want.n_tokens and got.finish_reason == want.finish_reason
    assert any(g.text for g in served), "every reply was empty: the comparison would prove nothing"


def test_loglikelihoods_match_on_token_ids(direct, url, tiny_model_dir):
    requests = [LoglikelihoodRequest(c, k) for c in CONTEXTS for k in CONTINUATIONS]
    expected = collect(direct.loglikelihood(requests), len(requests))
    served = collect(client(url, tiny_model_dir).loglikelihood(requests), len(requests))
    for request, want, got in zip(requests, expected, served):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4), request
        assert (got.is_greedy, got.n_tokens) == (want.is_greedy, want.n_tokens), request


def test_rolling_loglikelihoods_match_across_windows(direct, url, tiny_model_dir):
    requests = [RollingRequest(text) for text in DOCUMENTS]
    assert len(direct.encode(DOCUMENTS[0])) > 3 * direct.max_length  # several windows
    expected = collect(direct.loglikelihood_rolling(requests), len(requests))
    backend = client(url, tiny_model_dir)
    served = collect(backend.loglikelihood_rolling(requests), len(requests))
    assert backend.max_length == direct.max_length  # learnt from the server's model list
    for want, got in zip(expected, served):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)
        assert got.n_tokens == want.n_tokens


def test_loglikelihoods_match_on_text_without_a_tokenizer(direct, url):
    requests = [LoglikelihoodRequest(c, k) for c in CONTEXTS if c for k in (" Paris", " 4", " the lazy dog")]
    expected = collect(direct.loglikelihood(requests), len(requests))
    served = collect(client(url).loglikelihood(requests), len(requests))
    for want, got in zip(expected, served):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)


@pytest.mark.slow  # a subprocess that imports torch and transformers: ~15 s on an idle machine, more when busy
def test_evalkit_serve_command_serves_a_configured_model(tmp_path, tiny_model_dir):
    import os
    import subprocess
    import sys

    import openai

    (tmp_path / "evalkit.toml").write_text(f'[project]\nstore = "store.db"\n[models.tiny]\nsource = "{tiny_model_dir}"\n'
                                           '[suites.default]\ntasks = ["news"]\n')
    env = {**os.environ, "EVALKIT_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "evalkit", "--config", str(tmp_path / "evalkit.toml"), "serve",
                                "--model", "tiny", "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        assert "serving tiny" in line, line
        url = line.split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        api = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        assert [m.id for m in api.models.list()] == ["tiny"]
        reply = api.completions.create(model="tiny", prompt="The capital of France is", max_tokens=4, temperature=0)
        assert reply.usage.completion_tokens == 4 and reply.choices[0].finish_reason == "length"
        process.terminate()  # SIGTERM: the model loop on the main thread stops, then HTTP shuts down
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
