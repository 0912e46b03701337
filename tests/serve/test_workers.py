"""`evalkit serve --workers N`: worker processes answer as the serving process would, a dead one fails only
what it held, and a count that cannot work is one line."""

import asyncio
import os
import signal
import time
from concurrent.futures import Future

import openai
import pytest

from evalkit.config import ModelSpec
from evalkit.errors import ConfigError, ModelError
from evalkit.serve.engine import Engine, _Job
from evalkit.serve.scoring import Sampling
from evalkit.serve.server import Server
from evalkit.serve.service import ModelService
from evalkit.models.local_pool import threads_per_worker, worker_count
from evalkit.serve.workers import RemoteWorker, WorkerPool
from evalkit.types import GenerationRequest

from .conftest import MAX_LENGTH, tiny_backend

REQUESTS = [GenerationRequest("The capital of France is", max_new_tokens=10),
            GenerationRequest("What is 2 + 2?", max_new_tokens=12, chat=True),
            GenerationRequest("A journey", max_new_tokens=10, temperature=0.8, seed=7),
            GenerationRequest("def add(a, b):", max_new_tokens=14, stop=("\n\n",))]


def spec_of(folder, **settings) -> ModelSpec:
    return ModelSpec(name="tiny", source=str(folder), batch_size=3, max_length=MAX_LENGTH, **settings)


@pytest.fixture(scope="module")
def pool(tiny_model_dir):
    remote = RemoteWorker(1, spec_of(tiny_model_dir), tiny_model_dir, threads=1)
    remote.wait_ready()
    pool = WorkerPool(Engine(tiny_backend(tiny_model_dir)), [remote])
    yield pool
    pool.close()


def test_the_count_follows_the_cores_on_a_cpu_and_is_one_elsewhere(tiny_model_dir):
    cpu = spec_of(tiny_model_dir)
    assert worker_count("auto", cpu, cuda=False, cores=4) == 4
    assert worker_count("auto", cpu, cuda=True, cores=4) == 1
    assert worker_count("auto", spec_of(tiny_model_dir, device="cpu"), cuda=True, cores=4) == 4
    assert worker_count("auto", spec_of(tiny_model_dir, backend="vllm"), cuda=False, cores=4) == 1
    assert worker_count("3", cpu, cuda=False, cores=2) == 3
    assert threads_per_worker(2, cores=2) == 1 and threads_per_worker(2, cores=8) == 4 and threads_per_worker(3, 2) == 1


@pytest.mark.parametrize("asked, settings, cuda, message", [
    ("0", {}, False, "--workers '0' is not a count"),
    ("two", {}, False, "--workers 'two' is not a count"),
    ("2", {"backend": "vllm"}, False, "backend = 'vllm'.*give --workers 1"),
    ("2", {}, True, "device 'auto'"),
])
def test_a_count_that_cannot_work_is_one_line(tiny_model_dir, asked, settings, cuda, message):
    with pytest.raises(ConfigError, match=message) as caught:
        worker_count(asked, spec_of(tiny_model_dir, **settings), cuda=cuda, cores=2)
    assert "\n" not in str(caught.value)


def test_a_worker_answers_as_the_serving_process_does(pool, direct):
    """Generation, streamed tokens and token-level scoring from the worker process equal the backend's."""
    remote = pool.remotes[0]
    expected = dict(direct.generate(REQUESTS))
    futures = [remote.put(_Job(Future(), request=r)) for r in REQUESTS]
    for index, future in enumerate(futures):
        got = future.result(timeout=120)
        assert (got.text, got.n_tokens, got.finish_reason) == (expected[index].text, expected[index].n_tokens,
                                                               expected[index].finish_reason)
    assert any(expected[i].text for i in expected), "every reply was empty: the comparison would prove nothing"
    streamed: list[int] = []
    generation = remote.put(_Job(Future(), request=REQUESTS[0], on_token=streamed.append)).result(timeout=120)
    assert direct.tokenizer.decode(streamed, skip_special_tokens=True) == generation.text
    ids = direct.encode("The quick brown fox")
    sampling = Sampling(max_tokens=0, temperature=0.0, top_p=1.0, seed=0, stop=(), top_k=2, echo=True)
    decoded = remote.put(_Job(Future(), score=(ids, sampling))).result(timeout=120)
    local = pool.local.put(_Job(Future(), score=(ids, sampling))).result(timeout=120)
    assert decoded.token_ids == local.token_ids
    assert decoded.logprobs[1:] == pytest.approx(local.logprobs[1:], abs=1e-5)


def test_requests_spread_over_the_workers_and_replies_do_not_depend_on_which(pool, direct):
    with Server(ModelService(pool.backend, "tiny", pool)) as server:
        api = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)

        async def together():
            client = openai.AsyncOpenAI(base_url=server.url, api_key="unused", max_retries=0)
            return await asyncio.gather(*(client.completions.create(model="tiny", prompt=f"Count to {n}:",
                                                                    max_tokens=8, temperature=0) for n in range(8)))

        remote_before = pool.remotes[0].process.pid
        replies = asyncio.run(together())
        alone = [api.completions.create(model="tiny", prompt=f"Count to {n}:", max_tokens=8, temperature=0)
                 for n in range(8)]
    assert [r.choices[0].text for r in replies] == [r.choices[0].text for r in alone]
    assert pool.remotes[0].process.pid == remote_before and pool.remotes[0].answered > 0 and pool.local.batches


def test_a_dead_worker_fails_what_it_held_in_one_line_and_the_rest_goes_on(tiny_model_dir, direct):
    remote = RemoteWorker(1, spec_of(tiny_model_dir), tiny_model_dir, threads=1)
    remote.wait_ready()
    pool = WorkerPool(Engine(tiny_backend(tiny_model_dir)), [remote])
    try:
        held = remote.put(_Job(Future(), request=GenerationRequest("Once upon a time", max_new_tokens=MAX_LENGTH - 8)))
        os.kill(remote.process.pid, signal.SIGKILL)
        with pytest.raises(ModelError, match=r"serving worker 1 \(pid \d+\) stopped with exit code -9") as caught:
            held.result(timeout=60)
        assert "\n" not in str(caught.value)
        deadline = time.monotonic() + 10
        while remote.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        after = [pool.put(_Job(Future(), request=r)) for r in REQUESTS]  # all to the serving process now
        expected = dict(direct.generate(REQUESTS))
        assert [f.result(timeout=120).text for f in after] == [expected[i].text for i in range(len(REQUESTS))]
    finally:
        pool.close()


def test_a_worker_that_cannot_load_the_model_says_so(tmp_path):
    remote = RemoteWorker(1, spec_of(tmp_path / "missing"), tmp_path / "missing", threads=1)
    try:
        with pytest.raises(ModelError, match="serving worker 1 could not load the model") as caught:
            remote.wait_ready(timeout=120)
        assert "\n" not in str(caught.value)
    finally:
        remote.close()


def test_serve_starts_the_workers_it_is_asked_for(tiny_model_dir, direct):
    from evalkit.models.handle import ModelHandle
    from evalkit.serve.cli import start_engine

    handle = ModelHandle(spec_of(tiny_model_dir), tiny_model_dir, "fingerprint")
    engine = start_engine(handle, "2")
    try:
        assert isinstance(engine, WorkerPool) and len(engine.remotes) == 1 and engine.remotes[0].ready
        assert engine.describe().startswith("2 processes")
        with Server(ModelService(engine.backend, "tiny", engine)) as server:
            api = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
            reply = api.completions.create(model="tiny", prompt="The capital of France is", max_tokens=6, temperature=0)
        assert reply.choices[0].text == dict(direct.generate([GenerationRequest("The capital of France is",
                                                                                max_new_tokens=6)]))[0].text
    finally:
        engine.close()
    assert not engine.remotes[0].process.is_alive()
    assert isinstance(start_engine(handle, "1"), Engine)
