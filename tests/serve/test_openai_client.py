"""`evalkit serve` over real HTTP with the real `openai` client: the API's shapes (checked against the
openai package's own types), echo scoring, validation, streaming, n, seeds, stops, keys, limits."""

import threading

import openai
import pytest
import torch

from evalkit.serve.server import Server
from evalkit.serve.service import ModelService


def api(server, key="unused"):
    return openai.OpenAI(base_url=server.url, api_key=key, max_retries=0)


def checked(reply):
    """The reply validated against its openai type (the client itself builds them without validating)."""
    return type(reply).model_validate(reply.model_dump())


def test_models_and_chat_logprobs_in_the_api_shapes(server):
    client = api(server)
    assert [m.id for m in client.models.list()] == ["tiny"]
    chat = checked(client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}],
                                                  max_tokens=5, temperature=0, logprobs=True, top_logprobs=2))
    content = chat.choices[0].logprobs.content
    assert 1 <= len(content) == chat.usage.completion_tokens <= 5
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.logprob <= t.top_logprobs[0].logprob + 1e-6
               for t in content)
    assert "".join(t.token for t in content) == chat.choices[0].message.content


@pytest.mark.parametrize("max_tokens", [1, 3])
def test_echo_returns_prompt_plus_exactly_max_tokens_even_when_eos_is_most_likely(server, direct, eos_prompts,
                                                                                    max_tokens):
    prompts = eos_prompts[:2]
    # Not `checked`: the openai types declare token_logprobs as floats, but the API itself (and vLLM) gives
    # the first prompt token null, which is what scoring clients expect and skip.
    reply = api(server).completions.create(model="tiny", prompt=prompts, max_tokens=max_tokens, echo=True,
                                           logprobs=1, temperature=0)
    assert all(c.logprobs.token_logprobs[0] is None for c in reply.choices)
    eos = direct.tokenizer.eos_token
    for prompt, choice in zip(prompts, reply.choices):
        lp = choice.logprobs
        assert len(lp.token_logprobs) == len(lp.tokens) == len(prompt) + max_tokens
        assert lp.tokens[len(prompt)] == eos and list(lp.top_logprobs[len(prompt)]) == [eos]
        # What a scoring client reads (the prompt's entries) is the plain model's own log-probability.
        with torch.inference_mode():
            logits = direct.model(input_ids=torch.tensor([prompt])).logits[0].float()
        want = torch.log_softmax(logits, dim=-1)[range(len(prompt) - 1), prompt[1:]].tolist()
        assert lp.token_logprobs[1 : len(prompt)] == pytest.approx(want, abs=1e-4)
    assert reply.usage.completion_tokens == max_tokens * len(prompts)


@pytest.mark.parametrize("settings, message", [
    ({"max_tokens": 10**9}, "maximum context length is 48"),
    ({"max_tokens": -1}, "max_tokens: Input should be greater than or equal to 0"),
    ({"logprobs": 50}, "logprobs: Input should be less than or equal to 20"),
    ({"n": 0}, "n: Input should be greater than or equal to 1"),
    ({"temperature": -1}, "temperature"),
    ({"max_tokens": 0}, "only allowed with echo"),
    ({"stream_options": {"include_usage": True}}, "only allowed when stream is true"),
    ({"prompt": [10**6]}, "token id 1000000 is out of range"),
])
def test_bad_completion_requests_get_400_with_the_reason(server, settings, message):
    client = api(server)
    with pytest.raises(openai.BadRequestError, match=message):
        client.completions.create(**{"model": "tiny", "prompt": "The capital", "max_tokens": 2, **settings})
    assert client.completions.create(model="tiny", prompt="The capital", max_tokens=2).choices  # still serving


def test_bad_chat_requests_get_400_and_other_models_404(server):
    client = api(server)
    hi = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError, match="top_logprobs requires logprobs"):
        client.chat.completions.create(model="tiny", messages=hi, top_logprobs=2, max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.chat.completions.create(model="tiny", messages=hi, max_completion_tokens=10**6)
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model="tiny", messages=[], max_tokens=2)
    with pytest.raises(openai.NotFoundError, match="`other` does not exist"):
        client.chat.completions.create(model="other", messages=hi, max_tokens=2)


def test_streams_carry_the_same_text_and_a_usage_chunk(server):
    client = api(server)
    settings = {"model": "tiny", "prompt": ["The capital of France is", "def add"], "max_tokens": 6, "temperature": 0}
    whole = client.completions.create(**settings)
    chunks = list(client.completions.create(**settings, stream=True, stream_options={"include_usage": True}))
    texts, reasons = {}, {}
    for chunk in chunks[:-1]:  # the openai type wants a finish reason, which only a choice's last chunk has
        for choice in (checked(chunk) if chunk.choices[0].finish_reason else chunk).choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            reasons[choice.index] = choice.finish_reason or reasons.get(choice.index)
    assert texts == {c.index: c.text for c in whole.choices}
    assert reasons == {c.index: c.finish_reason for c in whole.choices}
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage

    messages = [{"role": "user", "content": "What is 2 + 2?"}]
    reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0)
    stream = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    deltas = [checked(c).choices[0].delta for c in stream if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(d.content or "" for d in deltas) == reply.choices[0].message.content
    assert stream[-1].usage.completion_tokens == reply.usage.completion_tokens


def streamed_story(client, reference=None) -> tuple[list[str], object]:
    """A 12-token greedy chat reply streamed from `client`, as its text pieces, and the same reply unstreamed
    from `reference` (default: the same client)."""
    settings = {"model": "tiny", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 12,
                "temperature": 0}
    reply = (reference or client).chat.completions.create(**settings)
    stream = list(client.chat.completions.create(**settings, stream=True))
    return [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content], reply


def test_a_stream_sends_the_text_as_it_is_generated(server):
    """Each decoded token is its own chunk (nothing held back here: no stop string, plain ASCII words)."""
    contents, reply = streamed_story(api(server))
    assert "".join(contents) == reply.choices[0].message.content
    assert reply.usage.completion_tokens == 12 and len(contents) >= 6, contents


def test_n_samples_differ_and_repeat_with_the_seed_and_stops_cut(server):
    client = api(server)
    settings = {"model": "tiny", "prompt": "A journey", "max_tokens": 8, "temperature": 1.0, "n": 4, "seed": 5}
    first = [c.text for c in client.completions.create(**settings).choices]
    again = [c.text for c in client.completions.create(**settings).choices]
    assert len(first) == 4 and first == again and len(set(first)) > 1
    greedy = client.completions.create(model="tiny", prompt="A journey", max_tokens=12, temperature=0).choices[0].text
    stop = greedy[len(greedy) // 2 : len(greedy) // 2 + 2]
    assert stop.strip(), f"greedy text {greedy!r} too short to cut"
    cut = client.completions.create(model="tiny", prompt="A journey", max_tokens=12, temperature=0, stop=[stop])
    assert cut.choices[0].text == greedy.split(stop)[0] and cut.choices[0].finish_reason == "stop"


def test_concurrent_requests_share_batches_and_get_their_own_answers(server):
    client = api(server)
    prompts = [f"Question {i}: what is {i} + {i}?" for i in range(8)]
    ask = lambda p: client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": p}],
                                                   max_tokens=6, temperature=0).choices[0].message.content
    alone = [ask(p) for p in prompts]
    engine = server.service.engine
    batches_before, joined_before = len(engine.batches), engine.joined_running
    together = [None] * len(prompts)
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, ask(prompts[i]))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone
    # they shared batches: some started together, or joined one already running (which of the two
    # depends on when each thread's request reaches the engine)
    assert max(engine.batches[batches_before:]) > 1 or engine.joined_running > joined_before


def test_api_key_and_request_size_limit(direct):
    with Server(ModelService(direct, "tiny"), api_key="sk-local-1", max_request_bytes=4096) as locked:
        with pytest.raises(openai.AuthenticationError, match="API key"):
            api(locked, key="wrong").models.list()
        client = api(locked, key="sk-local-1")
        assert [m.id for m in client.models.list()] == ["tiny"]
        with pytest.raises(openai.APIStatusError, match="over the limit of 4096 bytes") as err:
            client.completions.create(model="tiny", prompt="word " * 2000, max_tokens=1)
        assert err.value.status_code == 413
