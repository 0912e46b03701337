"""`evalkit run --workers N`: worker processes on this machine share a CPU model's requests, this process
commits. The same numbers as one process, nothing lost when a worker dies, small calls left alone."""

import os
import signal
import threading

import pytest
from models.test_parallel import assert_same_outcome, project

from evalkit.backends.hf import HFBackend
from evalkit.config import ModelSpec
from evalkit.errors import ConfigError
from evalkit.models import local_pool
from evalkit.models.local_pool import LocalBackend, local_workers
from evalkit.run.command import RunRequest, run_request
from evalkit.types import GenerationRequest, LoglikelihoodRequest, RollingRequest

CONTEXTS = ["The capital of France is", "Question: What is 2 + 2?\nAnswer:", "def add(a, b):\n   ", "Once upon"]
CONTINUATIONS = [" Paris", " 4", " the quick brown fox", "x", " a time"]
PROMPTS = [GenerationRequest(f"Count from {n}:", max_new_tokens=6 + n % 5) for n in range(10)]


@pytest.fixture
def eager(monkeypatch):
    """Every call, however small, goes to the workers."""
    monkeypatch.setattr(local_pool, "WORTH_WORKERS", {"generate": 1, "loglikelihood": 1, "rolling": 1})


def spec_of(folder) -> ModelSpec:
    return ModelSpec(name="tiny", source=str(folder), batch_size=3, max_length=48)


@pytest.fixture(scope="module")
def alone(tiny_model_dir):
    return HFBackend(spec_of(tiny_model_dir), tiny_model_dir)


def spread(tiny_model_dir, workers=2, started=True):
    """A LocalBackend whose worker is up (the tiny model answers before a worker loads, else)."""
    backend = LocalBackend(spec_of(tiny_model_dir), tiny_model_dir, workers, threads=1)
    if started:
        backend._start_workers()
        for remote in backend.remotes:
            remote.wait_ready()
    return backend


def answers(iterator, n):
    out = dict(iterator)
    assert sorted(out) == list(range(n)), "a request was answered twice or not at all"
    return [out[i] for i in range(n)]


def test_workers_give_the_single_process_answers(eager, tiny_model_dir, alone):
    backend = spread(tiny_model_dir)
    try:
        scored = [LoglikelihoodRequest(c, k) for c in CONTEXTS for k in CONTINUATIONS]
        for want, got in zip(answers(alone.loglikelihood(scored), len(scored)),
                             answers(backend.loglikelihood(scored), len(scored))):
            assert got.logprob == pytest.approx(want.logprob, abs=1e-5) and got.is_greedy == want.is_greedy
        documents = [RollingRequest("A journey of a thousand miles begins with a single step. " * n) for n in (1, 5, 9)]
        for want, got in zip(answers(alone.loglikelihood_rolling(documents), 3),
                             answers(backend.loglikelihood_rolling(documents), 3)):
            assert got.logprob == pytest.approx(want.logprob, abs=1e-5) and got.n_tokens == want.n_tokens
        expected = answers(alone.generate(PROMPTS), len(PROMPTS))
        assert [g.text for g in answers(backend.generate(PROMPTS), len(PROMPTS))] == [g.text for g in expected]
        assert any(g.text for g in expected), "every reply was empty: the comparison would prove nothing"
        assert backend.remotes[0].answered > 0, "the worker process answered nothing"
        assert backend.tokenizer is backend.local.tokenizer  # the rest of the protocol is the local copy's
    finally:
        backend.close()


def test_a_worker_killed_with_a_chunk_in_hand_loses_nothing(eager, tiny_model_dir, alone):
    backend = spread(tiny_model_dir)
    try:
        worker = backend.remotes[0]
        os.kill(worker.process.pid, signal.SIGSTOP)  # takes its chunk into the pipe and answers nothing
        threading.Timer(1.0, os.kill, (worker.process.pid, signal.SIGKILL)).start()
        got = answers(backend.generate(PROMPTS), len(PROMPTS))
        assert [g.text for g in got] == [g.text for g in answers(alone.generate(PROMPTS), len(PROMPTS))]
        assert backend.requeued > 0 and not worker.alive
        assert backend.describe()["workers_stopped"] == 1
        assert len(answers(backend.generate(PROMPTS[:3]), 3)) == 3  # later calls: this process alone
    finally:
        backend.close()


def test_a_small_call_starts_no_process(tiny_model_dir):
    backend = spread(tiny_model_dir, started=False)
    try:
        answers(backend.generate(PROMPTS[:2]), 2)
        assert backend.remotes == []
    finally:
        backend.close()


def test_a_run_with_workers_has_the_single_process_numbers(eager, tiny_model_dir, tmp_path, monkeypatch):
    start = LocalBackend._start_workers

    def start_and_wait(self):  # the tiny model would finish before a worker loads
        start(self)
        for remote in self.remotes:
            remote.wait_ready()

    monkeypatch.setattr(LocalBackend, "_start_workers", start_and_wait)
    single, spread_out = project(tmp_path / "single", tiny_model_dir), project(tmp_path / "spread", tiny_model_dir)
    for config, workers in ((single, "1"), (spread_out, "2")):
        _, store, _, _ = run_request(RunRequest(config=config, models="tiny", suite="mixed", quiet=True,
                                                workers=workers))
        store.close()
    _, info = assert_same_outcome(single, spread_out, rel=1e-5, abs=1e-7)
    (processes,) = info["parallel"]["processes"]
    assert processes["model"] == "tiny" and processes["processes"] == 2 and processes["chunks_by_workers"] > 0
    assert local_pool._OPEN == []  # the run's worker processes stopped with it


def test_a_worker_count_that_cannot_work_is_one_line(tiny_model_dir, tmp_path):
    config = project(tmp_path / "bad", tiny_model_dir)
    with pytest.raises(ConfigError, match="--workers 'none' is not a count") as caught:
        run_request(RunRequest(config=config, models="tiny", suite="mixed", quiet=True, workers="none"))
    assert "\n" not in str(caught.value)
    with local_workers("1"):
        assert not isinstance(local_pool.load(ModelSpec(name="tiny", source=str(tiny_model_dir)), tiny_model_dir),
                              LocalBackend)
