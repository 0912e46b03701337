"""Joining a Ray cluster, and what it holds: the driver's side of `--ray ADDRESS` before any worker starts.

Every way this can fail (Ray missing, nothing at the address, too few resources for one worker) is
one line naming the address or setting and the fix, said before any model loads. Ray itself is
imported only here and in ray_pool.py, and only when a run asks for it.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from typing import Any

from evalkit.config import ParallelSettings
from evalkit.errors import ConfigError

PROBE_SECONDS = 5.0  # Ray waits two minutes on an address where nothing listens, then exits the process


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray (or parallel.ray) needs Ray, which is not installed here: "
                          "pip install 'evalkit[ray]', or leave --ray out to run in this process") from None
    return ray


def host_port(address: str) -> tuple[str, int] | None:
    """The host and port an address names (ray://HOST:PORT or HOST:PORT); None for auto and local."""
    if address in ("auto", "local"):
        return None
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address!r} is not a Ray address; use auto (a cluster started on this machine with "
                          f"`ray start`), ray://HOST:10001 (Ray Client), HOST:6379 (the head's GCS) or local")
    return host, int(port)


def probe(address: str) -> None:
    """Something must answer at the address before Ray is asked to join it."""
    target = host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=PROBE_SECONDS):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__)
        raise ConfigError(f"--ray {address}: nothing answers at {target[0]}:{target[1]} ({reason}); start the cluster "
                          f"(`ray start --head` on the head node) or fix the address") from None


def connect(address: str):
    """Join the cluster at `address` (`local`: start one in this process). Returns (ray, joined_here):
    a process that already joined one (a notebook that called ray.init) keeps its connection."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    probe(address)
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except ConnectionError as err:
        hint = "start one with `ray start --head`, or use --ray local" if address == "auto" else "check the address"
        raise ConfigError(f"--ray {address}: could not join the Ray cluster ({' '.join(str(err).split())[:200]}); "
                          f"{hint}") from None
    return ray, True


@dataclass(frozen=True)
class WorkerShape:
    """What one worker asks Ray for, and how many such workers the cluster holds."""

    cpus: float
    gpus: float
    count: int

    def options(self) -> dict[str, Any]:
        return {"num_cpus": self.cpus, "num_gpus": self.gpus}


def plan_workers(nodes: list[dict[str, Any]], settings: ParallelSettings, address: str) -> WorkerShape:
    """One worker per GPU (gpus_per_worker of them) where the cluster has GPUs, else one per
    cpus_per_worker CPUs, counted node by node (a worker cannot straddle two nodes)."""
    gpus = settings.gpus_per_worker if any(n["resources"].get("GPU", 0) for n in nodes) else 0.0
    count = 0
    for node in nodes:
        fits = math.floor(node["resources"].get("CPU", 0) / settings.cpus_per_worker + 1e-9)
        if gpus:
            fits = min(fits, math.floor(node["resources"].get("GPU", 0) / gpus + 1e-9))
        count += fits
    if settings.workers is not None:
        count = min(count, settings.workers)
    if count < 1:
        have = ", ".join(f"{n['ip']}: {_resources(n['resources'])}" for n in nodes) or "no alive nodes"
        want = f"{settings.cpus_per_worker:g} CPU" + (f" and {gpus:g} GPU" if gpus else "")
        raise ConfigError(f"--ray {address}: no node has room for one worker ({want}; the cluster has {have}); "
                          f"lower parallel.cpus_per_worker / parallel.gpus_per_worker or add nodes")
    return WorkerShape(cpus=settings.cpus_per_worker, gpus=gpus, count=count)


def alive_nodes(ray) -> list[dict[str, Any]]:
    return [{"node_id": n["NodeID"], "ip": n["NodeManagerAddress"],
             "resources": {k: v for k, v in n["Resources"].items() if k in ("CPU", "GPU", "memory")}}
            for n in ray.nodes() if n.get("Alive")]


def describe(ray, nodes: list[dict[str, Any]], shape: WorkerShape, address: str) -> dict[str, Any]:
    """The cluster as the run's provenance records it."""
    totals = ray.cluster_resources()
    return {"address": address, "ray_version": ray.__version__, "nodes": nodes,
            "resources": {k: totals[k] for k in ("CPU", "GPU", "memory") if k in totals},
            "worker": {"cpus": shape.cpus, "gpus": shape.gpus}, "workers_planned": shape.count}


def _resources(resources: dict[str, float]) -> str:
    return " ".join(f"{v:g} {k}" for k, v in resources.items() if k in ("CPU", "GPU")) or "nothing"
