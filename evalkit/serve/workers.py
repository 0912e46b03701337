"""`evalkit serve --workers N`: N copies of a CPU model, each in a process of its own, share the requests.

Why processes. Beside other busy processes, a team of torch threads waits at every operator's barrier
for whichever member the scheduler took off its core (backends/threads.py); a single thread has no
barrier, but then one process gets one thread's fair share of the machine. Threads of one process
cannot be independent workers either: between operators they take turns on the interpreter lock
(bench/RESULTS.md measured two decode loops on two threads no faster than one). N processes of
cores/N threads each run side by side with nothing to wait for, and each gets its own share. Each also
reads its own copy of the weights at every decode step for fewer rows, so on a quiet machine one
process is as fast or faster: `--workers` is for a machine shared with other work (bench/RESULTS.md).

The serving process is worker 0: it keeps HTTP, the tokenizer and its own Engine, whose model stays on
its main thread (engine.py says why). Workers 1..N-1 are spawned processes that load the same weights
(the handle's spec and folder) and run an Engine of their own; a request goes, whole, to the worker
with the fewest requests in flight, where it batches with what that worker holds (continuous batching
stays per worker). A reply does not depend on the worker: generation gives each request its own
seeded generator and batching does not change an answer (engine.py). Streamed tokens cross the pipe one
by one as the worker decodes them.

A worker that dies fails the requests it held with one line naming it and is dropped from the rotation;
the others go on. Workers ignore Ctrl-C (the terminal sends it to the whole process group): they stop
when the serving process closes their pipe, or when it dies.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future

from evalkit.models.local_pool import load_in_worker
from evalkit.serve.engine import Engine, JobQueue, _Job
from evalkit.system.processes import ChildProcess, ParentPipe


def serve_jobs(pipe: ParentPipe, spec, folder: str, threads: int) -> None:
    """A worker process: load the model, then answer the jobs the pipe brings until it closes."""
    backend = load_in_worker(pipe, spec, folder, threads)
    if backend is None:
        return
    engine, futures = Engine(backend, own_thread=False), {}

    def read() -> None:
        for kind, job_id, body in pipe.jobs():
            if kind == "cancel":
                if job_id in futures:
                    futures[job_id].cancel()
                continue
            if kind == "score":
                job = _Job(Future(), score=body)
            else:
                streamed = (lambda token, j=job_id: pipe.item(j, token)) if kind == "stream" else None
                job = _Job(Future(), request=body, on_token=streamed)
            futures[job_id] = job.future
            job.future.add_done_callback(lambda f, j=job_id: (futures.pop(j, None), pipe.answer(j, f)))
            engine.put(job)
        engine.close()

    pipe.ready(os.getpid())
    threading.Thread(target=read, name="evalkit-serve-worker-pipe", daemon=True).start()
    engine.run()


class RemoteWorker(ChildProcess):
    """A worker process as the serving process sees it: Engine's `put`, answered over the pipe."""

    def __init__(self, index: int, spec, folder, threads: int):
        super().__init__(f"serving worker {index}", serve_jobs, (spec, str(folder), threads))

    def put(self, job: _Job) -> Future:
        kind = "score" if job.score is not None else "stream" if job.on_token else "generate"
        return super().put(kind, job.score if kind == "score" else job.request, job.future, job.on_token)


class WorkerPool(JobQueue):
    """Engine's interface over the serving process's own Engine and N-1 worker processes."""

    def __init__(self, local: Engine, remotes: list[RemoteWorker]):
        self.local, self.remotes = local, remotes
        self._in_flight = [0] * (1 + len(remotes))
        self._lock = threading.Lock()

    @property
    def backend(self):
        return self.local.backend

    def put(self, job: _Job) -> Future:
        with self._lock:
            candidates = [0] + [i + 1 for i, remote in enumerate(self.remotes) if remote.alive]
            # ties go to a worker process: the serving process also runs HTTP and the tokenizer
            chosen = min(candidates, key=lambda i: (self._in_flight[i], i == 0))
            self._in_flight[chosen] += 1
        job.future.add_done_callback(lambda _f: self._done(chosen))
        return self.local.put(job) if chosen == 0 else self.remotes[chosen - 1].put(job)

    def _done(self, index: int) -> None:
        with self._lock:
            self._in_flight[index] -= 1

    def run(self) -> None:
        self.local.run()

    def close(self) -> None:
        self.local.close()
        for remote in self.remotes:
            remote.close()

    def describe(self) -> str:
        return f"{1 + len(self.remotes)} processes (pids {os.getpid()}, " + \
            ", ".join(str(r.process.pid) for r in self.remotes) + ")"


def start_workers(count: int, spec, folder, threads: int) -> list[RemoteWorker]:
    """Worker processes 1..count-1, loading while the serving process loads its own copy."""
    return [RemoteWorker(index, spec, folder, threads) for index in range(1, count)]
