"""The driver's side of `--ray ADDRESS`: workers on a Ray cluster answer, this process commits.

    evalkit run --models base,sft --ray auto

The run plans its requests as always; `fetch_responses` asks the handle's backend for what the store
lacks, and under `--ray` that backend is a `RayBackend`: it cuts the distinct missing requests into
batches, keeps every worker (a Ray actor holding one loaded model, ray_worker.py) two batches deep,
and yields each batch's responses as it comes back, so the driver, the store's only writer, commits
them at once. A worker that dies (its process killed, its node gone) loses only the batches it had
not returned: they go back to the front of the queue, to another worker or to the replacement Ray
starts, so every request is answered once. A driver killed mid-run resumes from the store like any run.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.config import ParallelSettings
from evalkit.errors import ConfigError, EvalkitError, ModelError
from evalkit.models import ray_cluster
from evalkit.models.parallel import world
from evalkit.models.ray_worker import NEEDS_COPY, ModelNotHere, ModelTicket, Worker

DEPTH = 2  # batches in flight per worker: the next one waits on the worker while the driver commits
MAX_RESTARTS = 3  # per worker; Ray starts a replacement process (on any node with room) after each death
PROBE_PAUSE = 0.2  # seconds between asks whether a dead worker's replacement is up
SETTLE_SECONDS = 30.0  # how long the provenance waits for a replacement still starting when the work ended
BATCHES_PER_WORKER = 4  # a model's missing requests are cut so that each worker gets about this many batches

_ACTIVE: RayPool | None = None


def active() -> RayPool | None:
    """The pool of the run in progress in this process, if it runs on a Ray cluster."""
    return _ACTIVE


@contextmanager
def ray_workers(settings: ParallelSettings, address: str | None, ui=None) -> Iterator[RayPool | None]:
    """Workers on the cluster at `address` for the duration of the block (None: nothing to do)."""
    global _ACTIVE
    if not address:
        yield None
        return
    if world().size > 1:
        raise ConfigError("--ray and `accelerate launch` both spread the work; run `evalkit run --ray ...` as one "
                          "process, or drop --ray under the launcher")
    ray, joined_here = ray_cluster.connect(address)
    try:
        nodes = ray_cluster.alive_nodes(ray)
        shape = ray_cluster.plan_workers(nodes, settings, address)
        start = ui.step if ui is not None else (lambda _label, work, *args: work(*args))
        pool = start(f"starting {shape.count} workers on the Ray cluster at {address}", RayPool, ray,
                     ray_cluster.describe(ray, nodes, shape, address), shape, settings)
        _ACTIVE = pool
        try:
            yield pool
        finally:
            _ACTIVE = None
            pool.close()
    finally:
        if joined_here:
            ray.shutdown()


@dataclass
class Slot:
    """One worker as the driver sees it: its actor, where it runs and what it answered."""

    index: int
    actor: Any
    places: list[dict[str, Any]]  # where() of each process the worker ran in (a replacement adds one)
    responses: int = 0
    in_flight: int = 0
    probe: Any = None  # a where() call after a lost batch: no new batch goes to the worker until it answers
    dead: bool = False  # Ray will not start it again (restarts used up, or its actor was removed)

    @property
    def restarts(self) -> int:
        return len(self.places) - 1

    @property
    def ready(self) -> bool:
        return not self.dead and self.probe is None


class RayPool:
    def __init__(self, ray, cluster: dict[str, Any], shape: ray_cluster.WorkerShape, settings: ParallelSettings):
        self.ray, self.cluster, self.settings = ray, cluster, settings
        actor = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0)(Worker)
        actors = [actor.options(**shape.options()).remote(shape.cpus, shape.gpus) for _ in range(shape.count)]
        self.slots = [Slot(i, a, [place]) for i, (a, place) in enumerate(zip(actors, self._started(actors)))]
        self.tickets: dict[str, ModelTicket] = {}
        self.retried_batches = 0

    def _started(self, actors: list) -> list[dict[str, Any]]:
        """Every worker's where(), or one line on why they did not start (resources taken, evalkit missing)."""
        ray, timeout = self.ray, self.settings.start_timeout
        refs = [a.where.remote() for a in actors]
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        if pending:
            free = ray.available_resources()
            raise ConfigError(f"--ray {self.cluster['address']}: {len(ready)} of {len(refs)} workers started within "
                              f"{timeout:g} s (free now: {free.get('CPU', 0):g} CPU, {free.get('GPU', 0):g} GPU; "
                              f"other jobs may hold the rest); set parallel.workers lower or parallel.start_timeout "
                              f"higher")
        try:
            places = ray.get(refs)
        except ray.exceptions.RayError as err:
            raise ConfigError(f"--ray {self.cluster['address']}: a worker failed to start ({_first_line(err)}); "
                              f"every node needs the same evalkit installed (pip install 'evalkit[ray]')") from None
        others = {p["evalkit_version"] for p in places} - {__version__}
        if others:
            raise ConfigError(f"--ray {self.cluster['address']}: workers run evalkit {', '.join(sorted(others))}, this "
                              f"process {__version__}; install the same version on every node")
        return places

    def backend(self, handle) -> RayBackend:
        return RayBackend(self, handle)

    def ticket(self, spec, folder: Path, fingerprint: str) -> ModelTicket:
        """The model as workers receive it; asked once per model, before any worker loads it."""
        if fingerprint not in self.tickets:
            ticket = ModelTicket(spec, str(folder), fingerprint)
            slots = self._alive()
            answers = self.ray.get([s.actor.locate.remote(ticket) for s in slots])
            lacking = [s for s, answer in zip(slots, answers) if answer == NEEDS_COPY]
            if lacking:
                ticket = self._shipped(ticket, lacking)
            self.tickets[fingerprint] = ticket
        return self.tickets[fingerprint]

    def _shipped(self, ticket: ModelTicket, lacking: list[Slot]) -> ModelTicket:
        if not self.settings.ship:
            hosts = ", ".join(sorted({s.places[-1]["host"] for s in lacking}))
            raise ModelError(f"model {ticket.spec.name!r}: the workers on {hosts} find no copy of it (no folder "
                             f"{ticket.folder} with its fingerprint there, no hub id they can download) and "
                             f"parallel.ship = false; copy the folder to the same path on every node, use a hub id, "
                             f"or set parallel.ship = true to send the driver's copy")
        adapter = ticket.spec.adapter
        return replace(ticket, weights=self._packed(Path(ticket.folder)),
                       adapter=self._packed(Path(adapter)) if adapter else None)

    def _packed(self, folder: Path) -> tuple[tuple[str, Any], ...]:
        """Every file of a folder in Ray's object store, one object per file."""
        return tuple((p.relative_to(folder).as_posix(), self.ray.put(p.read_bytes()))
                     for p in sorted(folder.rglob("*")) if p.is_file())

    def _alive(self) -> list[Slot]:
        slots = [s for s in self.slots if not s.dead]
        if not slots:
            raise EvalkitError(f"every worker on the Ray cluster at {self.cluster['address']} died and Ray gave up "
                               f"restarting them; what finished is in the store: rerun to continue")
        return slots

    def compute(self, ticket: ModelTicket, kind: str, requests: list) -> Iterator[tuple[int, Any]]:
        """(index, response) for every request, as the workers' batches come back."""
        size = batch_size(len(requests), len(self._alive()), ticket.spec.batch_size)
        queue = deque(list(range(start, min(start + size, len(requests)))) for start in range(0, len(requests), size))
        in_flight: dict[Any, tuple[Slot, list[int]]] = {}
        while queue or in_flight:
            for slot in self._alive():
                while queue and slot.ready and slot.in_flight < DEPTH:
                    batch = queue.popleft()
                    in_flight[slot.actor.compute.remote(ticket, kind, [requests[i] for i in batch])] = (slot, batch)
                    slot.in_flight += 1
            probes = {s.probe: s for s in self.slots if s.probe is not None}
            [ref], _ = self.ray.wait([*in_flight, *probes], num_returns=1)
            if ref in probes:
                self._probed(probes[ref])
                continue
            slot, batch = in_flight.pop(ref)
            slot.in_flight -= 1
            answered = self._answered(ref, slot, batch, queue, ticket)
            if answered is None:
                ticket = self.tickets.get(ticket.fingerprint, ticket)
                continue
            slot.responses += len(answered)
            for index, response in answered:
                yield batch[index], response

    def _answered(self, ref, slot: Slot, batch: list[int], queue: deque, ticket: ModelTicket) -> list | None:
        """A batch's responses, or None when it went back to the queue (its worker died, or a replacement
        on a node without the model needs the driver's copy first)."""
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.NodeDiedError,
                exceptions.OutOfMemoryError):
            queue.appendleft(batch)  # to whichever worker is free first
            self.retried_batches += 1
            if slot.probe is None and not slot.dead:
                slot.probe = slot.actor.where.remote()
            return None
        except exceptions.RayTaskError as err:
            if isinstance(err, ModelNotHere) and ticket.weights is None:
                self.tickets[ticket.fingerprint] = self._shipped(ticket, [slot])
                queue.appendleft(batch)
                return None
            raise _worker_error(err, slot, ticket) from None

    def _probed(self, slot: Slot) -> None:
        """After a lost batch: the worker's process again (a replacement is a new one), or given up by Ray."""
        exceptions = self.ray.exceptions
        try:
            place = self.ray.get(slot.probe)
        except exceptions.ActorDiedError:  # restarts used up: its batches go to the others
            slot.probe, slot.dead = None, True
            return
        except exceptions.RayActorError:  # still restarting
            time.sleep(PROBE_PAUSE)
            slot.probe = slot.actor.where.remote()
            return
        slot.probe = None
        if place["pid"] != slot.places[-1]["pid"] or place["node_id"] != slot.places[-1]["node_id"]:
            slot.places.append(place)

    def describe(self) -> dict[str, Any]:
        """The cluster and what each worker did, for the run's provenance."""
        self._settle(SETTLE_SECONDS)
        workers = [{"worker": s.index, "responses": s.responses, "restarts": s.restarts, "gave_up": s.dead,
                    "processes": [{k: p[k] for k in ("host", "node_id", "pid")} for p in s.places]}
                   for s in self.slots]
        return {**self.cluster, "workers": workers, "retried_batches": self.retried_batches}

    def _settle(self, seconds: float) -> None:
        """Wait (a while) for the replacements the last batches left starting, so the record names them."""
        deadline = time.monotonic() + seconds
        while any(s.probe is not None for s in self.slots) and time.monotonic() < deadline:
            probes = {s.probe: s for s in self.slots if s.probe is not None}
            ready, _ = self.ray.wait(list(probes), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                self._probed(probes[ref])

    def close(self) -> None:
        for slot in self.slots:
            self.ray.kill(slot.actor)


def batch_size(n: int, workers: int, model_batch: int) -> int:
    """Requests per batch: about BATCHES_PER_WORKER batches for each worker (so a late worker still gets
    work and a lost batch costs little), never fewer than the model's own batch."""
    return max(1, model_batch, math.ceil(n / (workers * BATCHES_PER_WORKER)))


def _worker_error(err, slot: Slot, ticket: ModelTicket) -> EvalkitError:
    cause = getattr(err, "cause", None)
    host = slot.places[-1]["host"]
    if isinstance(cause, EvalkitError):
        return type(cause)(f"{cause} (worker {slot.index} on {host})")
    return ModelError(f"model {ticket.spec.name!r}: worker {slot.index} on {host} failed on a batch "
                      f"({_first_line(cause or err)}); what finished is in the store: fix it and rerun")


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"[:300]


class RayBackend:
    """The Backend protocol over a pool: the three batched calls, answered by the cluster's workers."""

    def __init__(self, pool: RayPool, handle):
        self.pool, self.handle = pool, handle
        self._tokenizer = None

    def _compute(self, kind: str, requests) -> Iterator[tuple[int, Any]]:
        ticket = self.pool.ticket(self.handle.spec, self.handle.folder, self.handle.fingerprint)
        return self.pool.compute(ticket, kind, list(requests))

    def loglikelihood(self, requests):
        return self._compute("loglikelihood", requests)

    def loglikelihood_rolling(self, requests):
        return self._compute("rolling", requests)

    def generate(self, requests):
        return self._compute("generate", requests)

    @property
    def tokenizer(self):
        """The model's tokenizer on the driver (a judge renders its chat prompts with it); no weights load."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.handle.folder)
        return self._tokenizer
