"""Worker processes on this machine: N copies of a CPU model share a run's requests, this process commits.

    evalkit run --models base --workers auto     # one per core; or [parallel] workers = 2

Why processes, when torch already spreads a forward over the cores: beside other busy processes a
team of threads waits at every operator's barrier for whichever member the scheduler took off its core
(backends/threads.py), and threads of one process take turns on the interpreter lock between operators.
N processes of cores/N threads each have nothing to wait for. They are not free: each reads its own copy
of the weights at every decode step for fewer rows, so on a quiet machine one process with the whole
team is faster. Hence one process by default and `--workers` for a machine shared with other work
(figures both ways: bench/RESULTS.md, "Speed beside busy processes").

`LocalBackend` is the Backend protocol over them: this process loads its own copy (it is worker 0) and
spawns the others, which load theirs meanwhile. A call's requests are cut into contiguous chunks, two per
worker, so a question's options and a subject's shared context mostly stay together and each call
still batches and sorts a chunk of its own; a worker takes the next chunk as it finishes one, this process
between its own. Responses stream back one by one as the workers produce them and are yielded (and so
committed by `fetch_responses`) in the order they arrive. A worker that dies loses nothing: what it had
not answered of its chunk goes back to the queue, to whichever worker is free. Answers do not depend on
the chunking: every backend call answers each request as it would alone.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from evalkit.backends import load_backend
from evalkit.errors import ConfigError
from evalkit.system.memory import available_memory
from evalkit.system.processes import ChildProcess, ChildStopped, ParentPipe
from evalkit.types import BACKEND_METHODS

CHUNKS_PER_WORKER = 2  # enough for a fast worker to take over a slow one's tail, few enough to keep batches full
# The smallest call that starts the worker processes: a generation is seconds of work, a log-likelihood
# a few milliseconds (a worker's start costs about 5 s of a core on 2 cores with a 135M model).
WORTH_WORKERS = {"generate": 8, "loglikelihood": 400, "rolling": 16}
# A worker's memory per byte of weights: the weights, the CPU linear layers' packed copy
# (backends/cpu_linear.py) and room for activations and the KV cache.
MEMORY_PER_COPY = 2.5


def _weight_bytes(backend) -> int:
    model = getattr(backend, "model", None)
    return sum(p.numel() * p.element_size() for p in model.parameters()) if model is not None else 0


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def runs_on_cpu(spec, cuda: bool) -> bool:
    return spec.backend == "hf" and (spec.device == "cpu" or (spec.device == "auto" and not cuda))


def parse_workers(asked: str | int | None, flag: str = "--workers") -> int | None:
    """A worker count, or None for `auto`; one line for anything else."""
    if asked is None or asked == "auto":
        return None
    if isinstance(asked, bool) or not str(asked).isdigit() or int(asked) < 1:
        raise ConfigError(f"{flag} {asked!r} is not a count: give a number (1 or more) or `auto`")
    return int(asked)


def worker_count(asked: str | int | None, spec, cuda: bool, cores: int | None = None, flag: str = "--workers",
                 strict: bool = True) -> int:
    """How many processes run the model: a number, or `auto`/None (one per core for a model that runs on
    the CPU through the transformers backend, else one). A count above one for a model that runs elsewhere
    is an error when `strict` (one model asked for), else that model runs as one process."""
    on_cpu = runs_on_cpu(spec, cuda)
    count = parse_workers(asked, flag)
    if count is None:
        return (cores or usable_cores()) if on_cpu else 1
    if count > 1 and not on_cpu and not strict:
        return 1
    if count > 1 and not on_cpu:
        where = f"backend = {spec.backend!r}" if spec.backend != "hf" else f"device {spec.device!r}"
        raise ConfigError(f"{flag} {count}: model {spec.name!r} runs with {where}, whose engine uses the "
                          f"accelerator or its own processes; give {flag} 1 for it")
    return count


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or usable_cores()) // workers)


def load_in_worker(pipe: ParentPipe, spec, folder: str, threads: int):
    """A worker process's copy of the model on its share of the cores, or None after telling the parent why not."""
    import torch

    torch.set_num_threads(threads)  # the free-core follower stays within this share
    try:
        return load_backend(spec, folder)
    except Exception as err:
        pipe.failed(f"{type(err).__name__}: {err}")
        return None


def compute_jobs(pipe: ParentPipe, spec, folder: str, threads: int) -> None:
    """A worker process: load the model, then answer (kind, requests) chunks until the pipe closes,
    sending each (index, response) as the backend yields it."""
    backend = load_in_worker(pipe, spec, folder, threads)
    if backend is None:
        return
    pipe.ready(os.getpid())
    for kind, job_id, body in pipe.jobs():
        if kind == "cancel":
            continue
        method, requests = body
        done: Future = Future()
        try:
            for pair in getattr(backend, BACKEND_METHODS[method])(requests):
                pipe.item(job_id, pair)
            done.set_result(None)
        except Exception as err:
            done.set_exception(err)
        pipe.answer(job_id, done)


class LocalBackend:
    """The Backend protocol over this process's own copy of the model and N-1 worker processes, started
    at the first call big enough to repay their start (a second interpreter, torch and a copy of the weights:
    seconds of a core that a small call does not win back)."""

    def __init__(self, spec, folder, workers: int, threads: int):
        self.spec, self.folder, self.workers, self.threads = spec, folder, workers, threads
        self.remotes: list[ChildProcess] = []
        self.local = load_backend(spec, folder)
        follower = getattr(self.local, "free_cores", None)
        if follower is not None:  # this process is one worker of N: it follows the free cores up to its share
            follower.most = threads
        self.requeued = 0  # requests that went back to the queue when their worker died
        self.not_started = ""  # why the workers were not started, when memory would not hold them

    def __getattr__(self, name: str) -> Any:  # tokenizer, encode, max_length, ...: the local copy's
        if name == "local":
            raise AttributeError(name)
        return getattr(self.local, name)

    def loglikelihood(self, requests):
        return self._compute("loglikelihood", list(requests))

    def loglikelihood_rolling(self, requests):
        return self._compute("rolling", list(requests))

    def generate(self, requests):
        return self._compute("generate", list(requests))

    def describe(self) -> dict[str, Any]:
        return {"processes": self.workers, "threads_each": self.threads, "started": 1 + len(self.remotes),
                "chunks_by_workers": sum(r.answered for r in self.remotes), "requeued": self.requeued,
                "workers_stopped": sum(not r.alive for r in self.remotes),
                "workers_failed": [r.failure for r in self.remotes if r.failure],
                **({"not_started": self.not_started} if self.not_started else {})}

    def close(self) -> None:
        for remote in self.remotes:
            remote.close()

    def _start_workers(self) -> None:
        if self.remotes or self.not_started:
            return
        need, free = (self.workers - 1) * MEMORY_PER_COPY * _weight_bytes(self.local), available_memory()
        if free is not None and need > free:
            self.not_started = (f"{self.workers - 1} more copies of the model need about {need / 2**30:.1f} GiB and "
                                f"{free / 2**30:.1f} GiB is free: this process runs it alone")
            return
        self.remotes = [ChildProcess(f"worker {i} of model {self.spec.name!r}", compute_jobs,
                                     (self.spec, str(self.folder), self.threads)) for i in range(1, self.workers)]

    def _compute(self, kind: str, requests: list) -> Iterator[tuple[int, Any]]:
        method = getattr(self.local, BACKEND_METHODS[kind])
        if len(requests) >= WORTH_WORKERS[kind]:
            self._start_workers()
        live = [r for r in self.remotes if r.alive and not r.failure]
        if not live:
            yield from method(requests)
            return
        size = math.ceil(len(requests) / ((1 + len(live)) * CHUNKS_PER_WORKER))
        share = _Share(deque(list(range(s, min(s + size, len(requests)))) for s in range(0, len(requests), size)))
        for remote in live:  # a worker still loading takes its first chunk once it is ready
            remote.when_ready(lambda remote=remote: self._feed(remote, kind, requests, share))
        left = len(requests)
        for answer in self._answers(method, requests, share):
            yield answer
            left -= 1
            if not left:  # counted here, once: the last answer may come from a worker while this process waits
                return

    @staticmethod
    def _answers(method, requests: list, share: _Share) -> Iterator[tuple[int, Any]]:
        """Answers as they come, this process's and the workers', until the caller has them all: a chunk
        taken here is computed here, with the workers' answers passed on between its responses."""
        while True:
            yield from share.drain()
            chunk = share.take()
            if chunk is None:
                answer = share.wait()  # None: a dead worker's chunk came back to the queue
                if answer is not None:
                    yield answer
                continue
            for index, response in method([requests[i] for i in chunk]):
                yield chunk[index], response
                yield from share.drain()

    def _feed(self, remote: ChildProcess, kind: str, requests: list, share: _Share) -> None:
        """Hand `remote` the next chunk; when it finishes, the next, from its pipe's thread."""
        chunk = share.take()
        if chunk is None:
            return
        sent: set[int] = set()

        def on_item(pair) -> None:
            sent.add(pair[0])
            share.put((chunk[pair[0]], pair[1]))

        def finished(future: Future) -> None:
            err = future.exception()
            if isinstance(err, ChildStopped):  # its unanswered requests go to whoever is free
                lost = [index for i, index in enumerate(chunk) if i not in sent]
                self.requeued += len(lost)
                share.give_back(lost)
            elif err is not None:
                share.fail(err)
            else:
                self._feed(remote, kind, requests, share)

        remote.put("compute", (kind, [requests[i] for i in chunk]), Future(), on_item).add_done_callback(finished)


class _Share:
    """The chunks not yet taken, and the answers the workers sent, between the pipes' threads and the caller."""

    def __init__(self, chunks: deque):
        self.chunks, self._lock, self._answers = chunks, threading.Lock(), queue.Queue()

    def take(self) -> list[int] | None:
        with self._lock:
            return self.chunks.popleft() if self.chunks else None

    def give_back(self, chunk: list[int]) -> None:
        if chunk:
            with self._lock:
                self.chunks.appendleft(chunk)
        self._answers.put(None)  # wakes a caller waiting on answers: there is work to take again

    def put(self, answer) -> None:
        self._answers.put(answer)

    def fail(self, err: BaseException) -> None:
        self._answers.put(err)

    def drain(self) -> Iterator[tuple[int, Any]]:
        while True:
            try:
                answer = self._answers.get_nowait()
            except queue.Empty:
                return
            if answer is not None:
                yield self._checked(answer)

    def wait(self) -> tuple[int, Any] | None:
        return self._checked(self._answers.get())

    @staticmethod
    def _checked(answer):
        if isinstance(answer, BaseException):
            raise answer
        return answer


_ASKED: list[str | int | None] = []  # the --workers of the run in progress (empty: no run, one process)
_OPEN: list[LocalBackend] = []


@contextmanager
def local_workers(asked: str | int | None) -> Iterator[None]:
    """For the duration of the block, models that run on the CPU load as `LocalBackend`s of `asked` workers
    (None or 1: one process, as outside a run; `auto`: one per core); the worker processes stop when it ends."""
    parse_workers(asked)  # a count that cannot work says so before anything runs
    _ASKED.append(asked)
    try:
        yield
    finally:
        _ASKED.pop()
        while _OPEN:
            _OPEN.pop().close()


def load(spec, folder):
    """The model's backend: in a run with worker processes a `LocalBackend`, else the backend itself."""
    if _ASKED and _ASKED[-1] not in (None, 1, "1") and folder is not None:
        import torch

        count = worker_count(_ASKED[-1], spec, torch.cuda.is_available(), strict=False)
        if count > 1:
            backend = LocalBackend(spec, folder, count, threads_per_worker(count))
            _OPEN.append(backend)
            return backend
    return load_backend(spec, folder)


def describe() -> list[dict[str, Any]]:
    """What each model's worker processes did, for the run's provenance."""
    return [{"model": b.spec.name, **b.describe()} for b in _OPEN]
