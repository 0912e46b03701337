"""The endpoint backend against a local server that misbehaves on purpose (127.0.0.1 only).

Every scenario is bounded: the server counts requests, so a test also fails when
the backend retries more (or less) than it should.
"""

import socket
import time

import pytest
from fake_endpoint import FakeEndpoint, prompt_of

from evalkit.backends.openai_api import EndpointError, OpenAIBackend
from evalkit.config import ModelSpec
from evalkit.errors import ModelError
from evalkit.types import GenerationRequest


def backend(url, **settings):
    backend = OpenAIBackend(ModelSpec(name="remote", source=url, **{"concurrency": 2, "max_retries": 3,
                                                                      "timeout": 5.0, **settings}))
    backend.calls.retry_base_s = 0.01  # keep the backoff in tests to milliseconds
    return backend


def requests(*prompts):
    return [GenerationRequest(p, max_new_tokens=8, chat=True) for p in prompts]


def run(be, reqs):
    """(results by index, failures by index or None)."""
    results = {}
    try:
        for index, result in be.generate(reqs):
            results[index] = result
    except EndpointError as err:
        return results, err.failures
    return results, None


def test_transient_errors_are_retried_until_an_answer():
    script = [("status", 429, None), ("status", 503, None), ("malformed",), ("no_choices",), ("ok", "fine")]
    with FakeEndpoint(lambda n, body: script[n]) as server:
        results, failures = run(backend(server.url, max_retries=4), requests("hello"))
    assert failures is None and results[0].text == "fine"
    assert len(server.requests) == 5


def test_retry_after_is_honoured():
    with FakeEndpoint(lambda n, body: ("status", 429, 0.3) if n == 0 else ("ok", "late")) as server:
        started = time.perf_counter()
        results, failures = run(backend(server.url), requests("hello"))
    assert results[0].text == "late" and time.perf_counter() - started >= 0.3


def test_gives_up_after_max_retries_and_reports_why():
    with FakeEndpoint(lambda n, body: ("status", 500, None)) as server:
        results, failures = run(backend(server.url, max_retries=2), requests("hello"))
    assert results == {} and failures == {0: "HTTP 500"}
    assert len(server.requests) == 3  # one try and two retries, no more


def test_client_errors_are_not_retried():
    with FakeEndpoint(lambda n, body: ("status", 400, None)) as server:
        results, failures = run(backend(server.url), requests("hello"))
    assert failures == {0: "HTTP 400"} and len(server.requests) == 1


def test_failures_of_some_requests_keep_the_rest():
    def behave(n, body):
        return ("status", 503, None) if "bad" in prompt_of(body) else ("ok", "answer to " + prompt_of(body))

    prompts = ["one", "bad two", "three", "bad four", "five"]
    with FakeEndpoint(behave) as server:
        results, failures = run(backend(server.url, max_retries=1), requests(*prompts))
    assert sorted(results) == [0, 2, 4] and results[2].text == "answer to three"
    assert failures == {1: "HTTP 503", 3: "HTTP 503"}
    assert len(server.requests) == 3 + 2 * 2


def test_a_slow_reply_times_out_and_is_retried():
    with FakeEndpoint(lambda n, body: ("slow", 1.5, "slow") if n == 0 else ("ok", "quick")) as server:
        results, failures = run(backend(server.url, timeout=0.4), requests("hello"))
    assert failures is None and results[0].text == "quick" and len(server.requests) == 2


def test_an_endpoint_that_is_down_is_given_up_on_quickly():
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    be = backend(f"http://127.0.0.1:{port}/v1", max_retries=1, concurrency=2)
    started = time.perf_counter()
    results, failures = run(be, requests(*[f"p{i}" for i in range(40)]))
    assert results == {} and len(failures) == 40
    reasons = set(failures.values())
    assert "connection error" in reasons and "not attempted (endpoint unreachable)" in reasons
    assert time.perf_counter() - started < 10


def test_the_key_comes_from_the_environment_and_is_sent_only_as_the_header(monkeypatch):
    monkeypatch.setenv("EVALKIT_TEST_KEY", "sk-test-SECRET-123")
    with FakeEndpoint(lambda n, body: ("status", 500, None)) as server:
        be = backend(server.url, api_key_env="EVALKIT_TEST_KEY", max_retries=0)
        with pytest.raises(EndpointError) as err:
            list(be.generate(requests("hello")))
    assert server.requests[0][2]["authorization"] == "Bearer sk-test-SECRET-123"
    assert "SECRET" not in str(err.value) and "SECRET" not in repr(be.spec)


def test_a_missing_key_for_a_remote_endpoint_names_the_variable(monkeypatch):
    monkeypatch.delenv("EVALKIT_MISSING_KEY", raising=False)
    with pytest.raises(ModelError, match="EVALKIT_MISSING_KEY"):
        OpenAIBackend(ModelSpec(name="remote", source="openai:gpt-4o", base_url="https://api.example.com/v1",
                                api_key_env="EVALKIT_MISSING_KEY"))


def test_an_endpoint_without_echo_logprobs_is_named_once_before_scoring():
    from evalkit.types import LoglikelihoodRequest, RollingRequest

    with FakeEndpoint(lambda n, body: ("ok", "a chat-shaped reply, no logprobs")) as server:
        be = backend(server.url)
        with pytest.raises(ModelError, match=r"cannot score: its echo reply has no log-probabilities.*"
                                             r"generation tasks and judges still work") as err:
            list(be.loglikelihood([LoglikelihoodRequest("The capital of France is", " Paris")] * 8))
        assert server.url in str(err.value) and len(server.requests) == 1  # one probe, not eight failures
        assert server.requests[0][1]["echo"] is True and server.requests[0][1]["logprobs"] == 1
        with pytest.raises(ModelError, match="cannot score"):
            list(be.loglikelihood_rolling([RollingRequest("A document.")]))
        results, failures = run(be, requests("hello"))  # generation still works with it
    assert failures is None and results[0].text == "a chat-shaped reply, no logprobs"


def test_an_endpoint_that_refuses_echo_is_named_with_its_answer():
    from evalkit.types import LoglikelihoodRequest

    with FakeEndpoint(lambda n, body: ("status", 400, None)) as server:
        with pytest.raises(ModelError, match="cannot score: it answers .* echo and logprobs with HTTP 400"):
            list(backend(server.url).loglikelihood([LoglikelihoodRequest("context", " answer")]))
    assert len(server.requests) == 1
