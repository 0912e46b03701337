"""How many Ray workers a cluster holds, and the lines said when Ray is missing or the cluster is too small.
No cluster starts here: these are the checks made before one is joined."""

import sys

import pytest

from evalkit.config import ParallelSettings
from evalkit.errors import ConfigError
from evalkit.models import ray_cluster
from evalkit.models.ray_pool import batch_size


def node(ip, cpus, gpus=0):
    return {"node_id": ip, "ip": ip, "resources": {"CPU": cpus, **({"GPU": gpus} if gpus else {})}}


def test_one_worker_per_gpu_where_there_are_gpus_else_per_cpus():
    gpu_nodes = [node("a", 16, 4), node("b", 16, 4), node("c", 8)]  # a CPU-only head holds no GPU worker
    assert ray_cluster.plan_workers(gpu_nodes, ParallelSettings(), "auto").count == 8
    shape = ray_cluster.plan_workers([node("a", 3), node("b", 5)], ParallelSettings(cpus_per_worker=2), "auto")
    assert (shape.count, shape.cpus, shape.gpus) == (1 + 2, 2.0, 0.0)  # a worker never straddles two nodes
    assert ray_cluster.plan_workers(gpu_nodes, ParallelSettings(workers=3), "auto").count == 3
    assert ray_cluster.plan_workers(gpu_nodes, ParallelSettings(gpus_per_worker=2), "auto").count == 4


def test_a_cluster_without_room_for_one_worker_is_one_line():
    with pytest.raises(ConfigError, match=r"no node has room for one worker \(1 CPU and 1 GPU; the cluster has "
                                          r"a: 0.5 CPU 1 GPU\); lower parallel.cpus_per_worker"):
        ray_cluster.plan_workers([node("a", 0.5, 1)], ParallelSettings(), "auto")


def test_ray_not_installed_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    with pytest.raises(ConfigError, match=r"needs Ray, which is not installed here: pip install 'evalkit\[ray\]'"):
        ray_cluster.connect("auto")


def test_addresses_are_read_as_ray_init_takes_them():
    assert ray_cluster.host_port("auto") is None and ray_cluster.host_port("local") is None
    assert ray_cluster.host_port("ray://head:10001") == ("head", 10001)
    assert ray_cluster.host_port("10.0.0.1:6379") == ("10.0.0.1", 6379)
    with pytest.raises(ConfigError, match="not a Ray address"):
        ray_cluster.host_port("ray://head")


def test_batches_give_each_worker_several_and_never_less_than_the_models_batch():
    assert batch_size(1000, 2, 16) == 125
    assert batch_size(24, 2, 3) == 3
    assert batch_size(5, 4, 1) == 1
