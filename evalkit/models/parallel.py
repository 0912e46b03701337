"""Data-parallel evaluation under `accelerate launch`: requests sharded by rank, merged in the store.

    accelerate launch --num_processes 2 -m evalkit run --models base

Every rank computes the same request list and takes every `size`-th distinct
request key (so the share does not depend on what another rank has already
cached). The main rank owns the store and is its only writer: it tells the
others which keys are cached, commits its own responses as they finish, and
receives the other ranks' responses over the process group once they have
computed their share. No rank but the main one reads or writes the store, so
ranks on other machines need no shared file system (SQLite over a network
file system is not safe). The main rank then scores, reports and judges
alone; the others stop. Scores are therefore computed from exactly the
responses a single process would have cached, and a killed parallel run
resumes like any other (in parallel or not): what the main rank committed
stays, a share still in flight on another rank is computed again.

Outside a launcher (WORLD_SIZE unset or 1) nothing here imports torch or
accelerate, and `World` is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    backend: str | None = None  # the torch.distributed backend (gloo on CPU, nccl on GPUs)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, keys: list[str]) -> set[str]:
        """This rank's share of distinct keys, taken in request order: round-robin keeps the shares'
        lengths alike, because tasks list their requests in data order, not sorted by length."""
        return set(keys[self.rank :: self.size])

    def barrier(self) -> None:
        if self.size > 1:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, value: T) -> list[T]:
        """`value` from every rank, in rank order (on every rank)."""
        if self.size == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def from_main(self, value: T) -> T:
        """The main rank's `value`, on every rank."""
        if self.size == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def to_main(self, value: T) -> list[T] | None:
        """`value` from every rank, in rank order, on the main rank; None on the others."""
        if self.size == 1:
            return [value]
        import torch.distributed as dist

        values: list[Any] | None = [None] * self.size if self.is_main else None
        dist.gather_object(value, values, dst=0)
        return values

    def main_first(self, work: Callable[..., T], *args: Any) -> T:
        """`work` on the main rank, then on the others: one rank converts or trains into a shared cache,
        the rest find it there."""
        if not self.is_main:
            self.barrier()
        result = work(*args)
        if self.is_main:
            self.barrier()
        return result

    def leave(self) -> None:
        """Close this rank's process group before the interpreter exits: a gloo group torn down at exit
        while another rank still holds its connections aborted a rank now and then (SIGABRT,
        "terminate called without an active exception")."""
        if self.size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()

    def describe(self) -> dict[str, Any]:
        return {"world_size": self.size, "backend": self.backend}


_WORLD: World | None = None


def world() -> World:
    """The process group accelerate (or torchrun) set up, joined once per process."""
    global _WORLD
    if _WORLD is None:
        _WORLD = _join() if int(os.environ.get("WORLD_SIZE", "1")) > 1 else World()
    return _WORLD


def accelerate_state():
    """accelerate's PartialState, told when there is no GPU: a bare PartialState() on a CPU machine
    joins the launcher's process group but reports one process, every rank its main one."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _join() -> World:
    import torch.distributed as dist

    state = accelerate_state()  # initialises torch.distributed from the launcher's environment
    return World(rank=state.process_index, size=state.num_processes,
                 backend=dist.get_backend() if dist.is_initialized() else None)
