"""One worker on a Ray cluster: finds the model on its own node, loads it once, answers batches.

The driver (evalkit/models/ray_pool.py) hands each worker a `ModelTicket`; the worker looks for the
model where it is (the driver's folder if this node has it, a hub id it can download), checks the
weights it found hash to the driver's fingerprint, and otherwise asks for the driver's copy, which
arrives through Ray's object store. The worker never writes to the store: it returns responses.

Nothing here imports Ray; the pool wraps `Worker` as an actor.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.backends import load_backend
from evalkit.config import ModelSpec
from evalkit.errors import ModelError
from evalkit.models.sources import ResolvedModel, cache_dir, fingerprint, looks_like_hub_id, resolve
from evalkit.types import BACKEND_METHODS

NEEDS_COPY = "needs-copy"


@dataclass(frozen=True)
class ModelTicket:
    """What a worker needs to run a model the driver resolved: its spec, the driver's folder (which
    may exist on the worker's node too), the fingerprint the worker's copy must have, and, once a
    worker asked for it, the driver's copy of the weights (and adapter) as object references."""

    spec: ModelSpec
    folder: str
    fingerprint: str
    weights: tuple[tuple[str, Any], ...] | None = None  # (relative path, object ref) per file
    adapter: tuple[tuple[str, Any], ...] | None = None


class ModelNotHere(ModelError):
    """This node has no copy of the model with the driver's fingerprint, and none was shipped."""


def find_here(ticket: ModelTicket) -> tuple[ModelSpec, Path] | str:
    """(spec, folder) of a copy on this node whose fingerprint is the driver's, or NEEDS_COPY."""
    spec, folder = ticket.spec, Path(ticket.folder)
    if spec.adapter and not Path(spec.adapter).is_dir():
        if ticket.adapter is None:
            return NEEDS_COPY
        spec = replace(spec, adapter=str(_unpacked(ticket.adapter, f"{ticket.fingerprint}-adapter")))
    candidates = [folder] if (folder / "config.json").is_file() else []
    if spec.source and looks_like_hub_id(spec.source) and not candidates:
        try:
            candidates.append(resolve(spec, Path.cwd()).folder)
        except ModelError:  # offline, say: the driver's copy can still come
            pass
    if ticket.weights is not None:
        candidates.append(_unpacked(ticket.weights, ticket.fingerprint))
    for candidate in candidates:
        if _fingerprint(spec, candidate) == ticket.fingerprint:
            return spec, candidate
    return NEEDS_COPY


_HASHED: dict[tuple[ModelSpec, str], str] = {}


def _fingerprint(spec: ModelSpec, folder: Path) -> str:
    """Hashed once per worker process: `locate` and the first `compute` look at the same folder."""
    key = (spec, str(folder))
    if key not in _HASHED:
        _HASHED[key] = fingerprint(spec, ResolvedModel(folder, spec.source))
    return _HASHED[key]


def _unpacked(files: tuple[tuple[str, Any], ...], name: str) -> Path:
    """The shipped files written once into this node's cache. Written beside the target and renamed into
    place, so a killed write leaves nothing; when two workers of one node race, the first rename wins
    and the other's copy is dropped (a folder another worker is reading is never replaced)."""
    import ray

    target = cache_dir() / "shipped" / name
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    try:
        for relative, ref in files:
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(ray.get(ref))
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class Worker:
    """A Ray actor's state: the one model it has loaded and the node it runs on."""

    def __init__(self, cpus: float, gpus: float):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if not gpus:  # torch's team sized to the CPUs Ray gave this worker, not to the free cores of the node
            os.environ.setdefault("EVALKIT_THREADS", str(max(1, int(cpus))))
        self.loaded: tuple[str, Any] | None = None  # (fingerprint, backend)

    def where(self) -> dict[str, Any]:
        import ray

        return {"pid": os.getpid(), "host": socket.gethostname(), "evalkit_version": __version__,
                "node_id": ray.get_runtime_context().get_node_id(), "ray_version": ray.__version__}

    def locate(self, ticket: ModelTicket) -> str:
        """"ready" when this node can run the model, else NEEDS_COPY; loads nothing."""
        return NEEDS_COPY if find_here(ticket) == NEEDS_COPY else "ready"

    def compute(self, ticket: ModelTicket, kind: str, requests: list) -> list[tuple[int, Any]]:
        """(index, response) for every request of the batch, in the backend's order."""
        backend = self._backend(ticket)
        return list(getattr(backend, BACKEND_METHODS[kind])(requests))

    def _backend(self, ticket: ModelTicket):
        if self.loaded is None or self.loaded[0] != ticket.fingerprint:
            self.loaded = None  # the last model goes before the next one loads
            found = find_here(ticket)
            if found == NEEDS_COPY:
                raise ModelNotHere(f"model {ticket.spec.name!r}: no copy with fingerprint {ticket.fingerprint} on "
                                   f"{socket.gethostname()}")
            spec, folder = found
            self.loaded = (ticket.fingerprint, load_backend(spec, folder))
        return self.loaded[1]
