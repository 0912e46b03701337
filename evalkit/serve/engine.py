"""One thread owns the model; requests from every connection queue up for it.

Generation requests that are waiting when the thread comes round are handed to
the backend's `generate` together, so concurrent clients share its batches
(the backend sorts, batches and gives each request its own seeded generator, so
a reply does not depend on what it was batched with). A short gather window
lets requests that arrive together (a client's concurrent calls) meet in one
batch, and generation requests that arrive while a batch runs join it as slots
free up (backends whose `generate` takes `arrivals`: the transformers backend),
rather than waiting for the whole batch to end. Token-level work (replies with `logprobs`, see scoring.py) that is waiting
together goes to `scoring.decode_many` at once, between generation batches: the
prompts of scoring requests (echo, at most one generated token) share forwards.

`generate_stream` hands each generated token id to the caller's event loop as the
backend chooses it, for backends whose `generate` takes an `on_token` callback
(the transformers backend); with any other backend the stream stays empty and the
finished text arrives whole. Tokens may run past a stop string that the finished
text is cut at, so a client-facing stream holds back what could still be a stop.

`evalkit serve` runs this loop on the thread that loaded the model (`own_thread=False`, then
`run()`), with HTTP on another. torch's OpenMP runtime (libgomp) keeps a pool of worker threads for
every thread that has run parallel work; once the pools together hold more threads than there are
cores, its workers stop spin-waiting between parallel regions and sleep instead, and a decode step
(hundreds of small parallel operations) ran at about half speed here on a thread other than the one
that had loaded the model (16 against 28 tokens/s, one client, SmolLM2-135M on 2 cores). Tests and
benchmarks that drive a server from the same process use the engine's own thread.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from evalkit.serve.scoring import Sampling, decode_many
from evalkit.types import Generation, GenerationRequest

GATHER_S = 0.01  # how long the first request of a batch waits for company


@dataclass
class _Job:
    future: Future
    request: GenerationRequest | None = None  # a generation, batched
    score: tuple[list[int], Sampling] | None = None  # or token-level decoding of exact ids, batched
    on_token: Callable[[int], None] | None = None  # called on the model thread with each generated token id


class JobQueue:
    """The requests an HTTP handler can hand over, as awaitables; `put` decides who computes them."""

    def put(self, job: _Job) -> Future:
        raise NotImplementedError

    async def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        futures = [self.put(_Job(Future(), request=r)) for r in requests]
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))

    def generate_each(self, requests: list[GenerationRequest]) -> list[asyncio.Future]:
        """One awaitable per request, each done as soon as its own generation is (for streaming)."""
        return [asyncio.wrap_future(self.put(_Job(Future(), request=r))) for r in requests]

    def generate_stream(self, request: GenerationRequest) -> tuple[asyncio.Queue, asyncio.Future]:
        """A queue that receives each generated token id as it is chosen, and the finished Generation."""
        loop, tokens = asyncio.get_running_loop(), asyncio.Queue()
        job = _Job(Future(), request=request, on_token=lambda token: loop.call_soon_threadsafe(tokens.put_nowait, token))
        return tokens, asyncio.wrap_future(self.put(job))

    def score(self, ids: list[int], sampling: Sampling) -> asyncio.Future:
        """Token-level decoding of exact prompt ids (a scoring.Decoded), batched with what else is waiting."""
        return asyncio.wrap_future(self.put(_Job(Future(), score=(ids, sampling))))


class Engine(JobQueue):
    def __init__(self, backend, max_batch: int = 64, own_thread: bool = True):
        self.backend, self.max_batch = backend, max_batch
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self.batches: list[int] = []  # sizes of the generation batches run: what concurrency bought
        self.score_batches: list[int] = []  # and of the token-level requests handed over together
        self.joined_running = 0  # generation requests that joined a batch already running
        self._held: list[_Job | None] = []  # taken from the queue during a batch, run after it
        self._thread: threading.Thread | None = None
        if own_thread:  # last: the thread reads the attributes above
            self._thread = threading.Thread(target=self.run, name="evalkit-serve-model", daemon=True)
            self._thread.start()

    def describe(self) -> str:
        return "1 process"

    def run(self) -> None:
        """The model loop, on the calling thread, until `close()`."""
        self._loop()

    def close(self) -> None:
        self._jobs.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def put(self, job: _Job) -> Future:
        self._jobs.put(job)
        return job.future

    def _loop(self) -> None:
        while True:
            first = self._held.pop(0) if self._held else self._jobs.get()
            if first is None:
                return
            gathered, self._held = self._held + self._gather(), []
            stopping = None in gathered
            jobs = [first] + [job for job in gathered if job is not None]
            scores = [job for job in jobs if job.score is not None and job.future.set_running_or_notify_cancel()]
            if scores:
                self.score_batches.append(len(scores))
                self._score(scores)
            generations = [job for job in jobs if job.request is not None and job.future.set_running_or_notify_cancel()]
            if generations:
                self.batches.append(len(generations))
                self._generate(generations)
            if stopping:
                return

    def _arrivals(self, jobs: list[_Job]) -> list[tuple[int, GenerationRequest]]:
        """Generation requests queued while a batch runs, appended to `jobs`, to join it. Anything else
        (scoring, close) is held for after the batch, and from then on no newcomer joins, so a
        steady stream of generations cannot keep the rest waiting."""
        joining = []
        while not self._held:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None or job.request is None:
                self._held.append(job)
            elif job.future.set_running_or_notify_cancel():
                jobs.append(job)
                joining.append((len(jobs) - 1, job.request))
        self.joined_running += len(joining)
        return joining

    def _gather(self) -> list[_Job | None]:
        jobs: list[_Job | None] = []
        while len(jobs) + 1 < self.max_batch:
            try:
                job = self._jobs.get(timeout=GATHER_S)
            except queue.Empty:
                break
            jobs.append(job)
            if job is None:
                break
        return jobs

    def _score(self, jobs: list[_Job]) -> None:
        try:
            results = decode_many(self.backend, [job.score for job in jobs])
        except Exception as err:
            results = [err] * len(jobs)
        for job, result in zip(jobs, results):
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _generate(self, jobs: list[_Job]) -> None:
        requests = [job.request for job in jobs]
        takes = inspect.signature(self.backend.generate).parameters
        options = {}
        if "arrivals" in takes:
            options["arrivals"] = lambda: self._arrivals(jobs)
        if "on_token" in takes:
            def on_token(index: int, token: int) -> None:
                if jobs[index].on_token:
                    jobs[index].on_token(token)

            options["on_token"] = on_token
        try:
            results = self.backend.generate(requests, **options)
            for index, generation in results:
                jobs[index].future.set_result(generation)
        except Exception as err:  # the whole batch failed: every waiting client gets the reason
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(err)
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the backend returned no result for this request"))

