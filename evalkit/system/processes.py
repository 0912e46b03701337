"""A spawned process that answers jobs over a pipe, seen from both ends.

The parent's `ChildProcess` sends `(kind, job_id, body)` and resolves each job's Future when the child
answers `("done", job_id, value)` or `("error", job_id, exception)`; `("item", job_id, value)` messages
before that go to the job's `on_item` (a streamed token, one response of a batch). The child's
`ParentPipe` reads the jobs and sends the answers (from any of its threads). A child that dies fails every
job it held with one line naming it (`ChildStopped`); the parent decides what happens to them.

Spawned, not forked: a fork copies torch's thread pools in whatever state they are, and a child that runs
parallel work then can hang. Children ignore Ctrl-C, which the terminal sends to the whole process
group: they stop when the parent closes the pipe or dies, so the parent alone decides how to stop.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from evalkit.errors import ModelError

READY_TIMEOUT_S = 600.0  # loading a large model on a slow disk can take minutes


class ChildStopped(ModelError):
    """The child process died (killed, out of memory) with jobs in hand."""


@dataclass
class _Pending:
    future: Future
    on_item: Callable[[Any], None] | None


class ChildProcess:
    """The parent's end: `put` a job, get a Future; `alive` turns False when the child is gone."""

    def __init__(self, name: str, target: Callable, args: tuple):
        context = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=_child, args=(target, child_end, args), name=name, daemon=True)
        self.process.start()
        child_end.close()
        self.pending: dict[int, _Pending] = {}
        self.alive, self.failure, self.answered = True, None, 0
        self._ids, self._lock, self._ready = itertools.count(), threading.Lock(), threading.Event()
        self._waiting: list[Callable[[], None]] = []  # when_ready callbacks
        threading.Thread(target=self._read, name=f"{name}-pipe", daemon=True).start()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Returns once the child said it is ready; raises ModelError with its reason when it failed to be."""
        if not self._ready.wait(timeout):
            raise ModelError(f"{self.name} was not ready within {timeout:.0f} s; look at the machine's memory")
        if self.failure:
            raise ModelError(f"{self.name} could not load the model: {self.failure}")
        if not self.alive:
            raise self.stopped()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.alive and not self.failure

    def when_ready(self, callback: Callable[[], None]) -> None:
        """`callback()` once the child is ready (now, if it is), on the pipe's thread; never if it fails to be."""
        with self._lock:
            if not self._ready.is_set():
                self._waiting.append(callback)
                return
        if self.ready:
            callback()

    def put(self, kind: str, body: Any, future: Future, on_item: Callable[[Any], None] | None = None) -> Future:
        with self._lock:
            if not self.alive:
                _settle(future, self.stopped(), error=True)
                return future
            job_id = next(self._ids)
            self.pending[job_id] = _Pending(future, on_item)
            self._send((kind, job_id, body))
        future.add_done_callback(lambda f: f.cancelled() and self._cancel(job_id))
        return future

    def stopped(self) -> ChildStopped:
        code = self.process.exitcode
        return ChildStopped(f"{self.name} (pid {self.process.pid}) stopped"
                            + (f" with exit code {code}" if code is not None else ""))

    def close(self) -> None:
        with self._lock:
            self._send(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)
        self.conn.close()

    def _send(self, message) -> None:
        try:
            self.conn.send(message)
        except (OSError, ValueError):  # the child is gone: the reader sees the pipe close and fails what is pending
            pass

    def _cancel(self, job_id: int) -> None:
        with self._lock:
            if self.pending.pop(job_id, None) is not None:
                self._send(("cancel", job_id, None))

    def _read(self) -> None:
        while True:
            try:
                kind, job_id, value = self.conn.recv()
            except (EOFError, OSError, ValueError):
                break
            if kind == "ready":
                with self._lock:
                    self._ready.set()
                    waiting, self._waiting = self._waiting, []
                for callback in waiting:
                    callback()
                continue
            if kind == "failed":
                self.failure = job_id
                break
            job = self.pending.get(job_id)
            if job is None:  # cancelled meanwhile
                continue
            if kind == "item":
                job.on_item(value)
                continue
            with self._lock:
                self.pending.pop(job_id, None)
            self.answered += 1
            _settle(job.future, value, error=kind == "error")
        with self._lock:
            self.alive = False
            lost, self.pending = list(self.pending.values()), {}
        self.process.join(timeout=5)
        self._ready.set()
        for job in lost:
            _settle(job.future, self.stopped(), error=True)


class ParentPipe:
    """The child's end: `jobs()` yields what the parent sends until it closes; answers may go from any thread."""

    def __init__(self, conn):
        self.conn, self._lock = conn, threading.Lock()

    def jobs(self):
        """(kind, job_id, body) until the parent closes the pipe or goes away."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            yield message

    def ready(self, detail: Any = None) -> None:
        self._send(("ready", detail, None))

    def failed(self, reason: str) -> None:
        self._send(("failed", reason, None))

    def item(self, job_id: int, value: Any) -> None:
        self._send(("item", job_id, value))

    def answer(self, job_id: int, future: Future) -> None:
        """The job's outcome from its finished Future (nothing for a cancelled one: the parent dropped it)."""
        if future.cancelled():
            return
        err = future.exception()
        self._send(("done", job_id, future.result()) if err is None else ("error", job_id, _sendable(err)))

    def _send(self, message) -> None:
        with self._lock:
            try:
                self.conn.send(message)
            except (OSError, ValueError):  # the parent went away: jobs() ends at the pipe's EOF
                pass


def _child(target: Callable, conn, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    target(ParentPipe(conn), *args)


def _sendable(err: BaseException) -> BaseException:
    """`err` if it survives pickling, else a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _settle(future: Future, value, error: bool) -> None:
    try:
        future.set_exception(value) if error else future.set_result(value)
    except (InvalidStateError, CancelledError):  # the caller went away first
        pass
