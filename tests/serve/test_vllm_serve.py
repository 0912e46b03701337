"""`evalkit serve` over the vllm backend: the same API, validation and numbers as over the transformers
backend. vLLM's engine is the stand-in of tests/backends/test_vllm.py (the real one runs in
tests/serve/test_endpoint_vllm_server.py's neighbour, test_vllm_real.py); what is tested is evalkit's
part: echoed prompt scores, generated tokens' log-probabilities and alternatives, max_tokens=0 and a
prompt at the full window, which vLLM cannot take as it is."""

from dataclasses import replace

import openai
import pytest
from backends.test_vllm import StandInEngine, fake_vllm  # noqa: F401 (a fixture)
from serve.test_openai_client import streamed_story

from evalkit.backends.hf import HFBackend
from evalkit.backends.vllm import VLLMBackend
from evalkit.config import ModelSpec
from evalkit.serve.server import Server
from evalkit.serve.service import ModelService

WINDOW = 48


@pytest.fixture
def servers(tiny_model_dir, fake_vllm):  # noqa: F811
    spec = ModelSpec(name="tiny", source=str(tiny_model_dir), batch_size=3, max_length=WINDOW)
    hf = HFBackend(spec, tiny_model_dir)
    vllm = VLLMBackend(replace(spec, backend="vllm"), tiny_model_dir, engine=StandInEngine(hf, WINDOW + 1))
    with Server(ModelService(hf, "tiny")) as a, Server(ModelService(vllm, "tiny")) as b:
        yield [openai.OpenAI(base_url=s.url, api_key="unused", max_retries=0) for s in (a, b)]


def test_echo_scores_and_generated_logprobs_equal_the_transformers_backends(servers):
    hf, vllm = servers
    for settings in ({"prompt": "The capital of France is Paris", "max_tokens": 0, "echo": True, "logprobs": 2},
                     {"prompt": "The capital of France is", "max_tokens": 1, "echo": True, "logprobs": 1},
                     {"prompt": "A journey of", "max_tokens": 5, "logprobs": 3},
                     {"prompt": list(range(5, 5 + WINDOW + 1)), "max_tokens": 0, "echo": True, "logprobs": 1}):
        a, b = (c.completions.create(model="tiny", temperature=0, **settings).choices[0] for c in (hf, vllm))
        assert b.text == a.text and b.finish_reason == a.finish_reason, settings
        assert b.logprobs.tokens == a.logprobs.tokens, settings
        for x, y in zip(a.logprobs.token_logprobs, b.logprobs.token_logprobs):
            assert (x is None and y is None) or y == pytest.approx(x, abs=1e-4), settings
        for x, y in zip(a.logprobs.top_logprobs, b.logprobs.top_logprobs):
            assert (x is None) == (y is None) and (x is None or set(x) == set(y)), settings


def test_chat_with_logprobs_and_plain_generation_equal_the_transformers_backends(servers):
    hf, vllm = servers
    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    a, b = (c.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0, logprobs=True,
                                      top_logprobs=2).choices[0] for c in (hf, vllm))
    assert b.message.content == a.message.content
    assert [t.logprob for t in b.logprobs.content] == pytest.approx([t.logprob for t in a.logprobs.content], abs=1e-4)
    a, b = (c.completions.create(model="tiny", prompt="The quick brown", max_tokens=10, temperature=0, stop=[" the"])
            for c in (hf, vllm))
    assert b.choices[0].text == a.choices[0].text and b.usage == a.usage
    with pytest.raises(openai.BadRequestError, match="maximum context length is 48"):
        vllm.completions.create(model="tiny", prompt=list(range(5, 5 + WINDOW)), max_tokens=5)


def test_a_stream_over_the_vllm_backend_sends_each_token_as_it_is_decoded(servers):
    hf, vllm = servers
    contents, reply = streamed_story(vllm, reference=hf)
    assert "".join(contents) == reply.choices[0].message.content
    assert len(contents) >= 6, contents
