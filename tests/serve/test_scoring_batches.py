"""Scoring requests (echo with log-probabilities, what lm-eval `local-completions` sends) that reach
`evalkit serve` together share the model's forwards, and each gets what it gets alone."""

import threading

import openai
import pytest

from evalkit.serve.scoring import Sampling, decode

TEXTS = ["The capital of France is Paris", "Question: What is 2 + 2?\nAnswer: 4", "A journey of a thousand miles"]


def api(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)


def scored(choice):
    return choice.logprobs.tokens, choice.logprobs.token_logprobs


def alone(direct, ids, max_tokens):
    decoded = decode(direct, ids, Sampling(max_tokens=max_tokens, temperature=0.0, top_k=1, echo=True))
    return decoded.token_ids, decoded.logprobs


def forwards(module):
    """A list that grows by one with each forward call of `module`, and the hook's handle."""
    calls: list[int] = []
    return calls, module.register_forward_hook(lambda _m, inputs, _out: calls.append(1))


@pytest.mark.parametrize("max_tokens", [0, 1])
def test_prompts_of_one_request_share_forwards_and_score_as_alone(server, direct, eos_prompts, max_tokens):
    prompts = [p for p in eos_prompts[:6]]  # token ids, all the same length: the EOS-argmax case included
    calls, hook = forwards(server.service.backend.decoder)
    try:
        reply = api(server).completions.create(model="tiny", prompt=prompts, echo=True, logprobs=1,
                                               max_tokens=max_tokens, temperature=0)
    finally:
        hook.remove()
    assert server.service.engine.score_batches[-1] == len(prompts)  # handed to the model together
    assert len(calls) <= -(-len(prompts) // direct.batch_size)  # in batches, not one forward per prompt
    for prompt, choice in zip(prompts, sorted(reply.choices, key=lambda c: c.index)):
        ids, want = alone(direct, prompt, max_tokens)
        assert len(choice.logprobs.token_logprobs) == len(ids) == len(prompt) + max_tokens
        assert choice.logprobs.token_logprobs[0] is None and want[0] is None
        assert choice.logprobs.token_logprobs[1:] == pytest.approx(want[1:], abs=1e-5)


def test_concurrent_scoring_clients_meet_in_one_batch(server, direct):
    client = api(server)
    ask = lambda text: scored(client.completions.create(model="tiny", prompt=text, echo=True, logprobs=1,  # noqa: E731
                                                        max_tokens=1, temperature=0).choices[0])
    prompts = [f"{text} ({i})" for i in range(3) for text in TEXTS]
    one_by_one = [ask(p) for p in prompts]
    before = len(server.service.engine.score_batches)
    together = [None] * len(prompts)
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, ask(prompts[i]))) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(server.service.engine.score_batches[before:]) > 1
    for (tokens, logprobs), (want_tokens, want) in zip(together, one_by_one):
        assert tokens == want_tokens
        assert logprobs[1:] == pytest.approx(want[1:], abs=1e-5)
    assert any(v < 0 for _, logprobs in together for v in logprobs[1:])
