"""`--ray`: workers on a local Ray cluster of two nodes (one CPU each) compute, the driver alone writes.
The same numbers as one process, nothing lost and nothing twice when a worker is killed, the driver's
copy of a model shipped to a worker that lacks it. One cluster for the module: Ray starts in seconds."""

import json
import os
import shutil
import signal
from contextlib import contextmanager
from dataclasses import replace

import pytest

ray = pytest.importorskip("ray", reason="Ray is in evalkit[ray] (requirements.lock installs it)")

from models.test_parallel import assert_same_outcome, project  # noqa: E402
from project import DOCS, write_project  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from evalkit.config import ParallelSettings, load_config  # noqa: E402
from evalkit.errors import ModelError  # noqa: E402
from evalkit.models import ray_pool  # noqa: E402
from evalkit.models.ray_pool import ray_workers  # noqa: E402
from evalkit.models.ray_worker import ModelTicket  # noqa: E402
from evalkit.models.sources import ResolvedModel, fingerprint  # noqa: E402
from evalkit.progress.console import ConsoleUI  # noqa: E402
from evalkit.run import pipeline  # noqa: E402
from evalkit.run.command import RunRequest, run_request  # noqa: E402
from evalkit.store.db import Store  # noqa: E402
from evalkit.types import RollingRequest  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes of one CPU each; the workers' caches (shipped models) under a temporary folder."""
    saved = {k: os.environ.get(k) for k in ("EVALKIT_CACHE", "TOKENIZERS_PARALLELISM")}
    os.environ["EVALKIT_CACHE"] = str(tmp_path_factory.mktemp("worker-cache"))
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    started = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    started.add_node(num_cpus=1)
    started.wait_for_nodes()
    yield started
    started.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run_in_process(config_path, address=None, ui=None):
    if ui is None:
        config, store, run_id, _ = run_request(RunRequest(config=config_path, models="tiny", suite="mixed",
                                                          quiet=True, ray=address))
        store.close()
        return
    config = load_config(config_path)
    store = Store(config.store)
    try:
        with ray_workers(config.parallel, address, ui):
            pipeline.run(config, ["tiny"], "mixed", store, ui)
    finally:
        store.close()


def assert_same(single, clustered):
    return assert_same_outcome(single, clustered, rel=1e-6, abs=1e-9)[1]


def test_a_two_node_cluster_gives_the_single_process_numbers(cluster, tiny_model_dir, tmp_path):
    single, clustered = project(tmp_path / "single", tiny_model_dir), project(tmp_path / "ray", tiny_model_dir)
    run_in_process(single)
    run_in_process(clustered, cluster.address)
    info = assert_same(single, clustered)["parallel"]
    described = info["ray"]
    assert len(described["nodes"]) == 2 and described["resources"]["CPU"] == 2
    assert described["ray_version"] == ray.__version__ and described["worker"] == {"cpus": 1.0, "gpus": 0.0}
    workers = described["workers"]
    assert len(workers) == 2 and len({w["processes"][0]["node_id"] for w in workers}) == 2  # one per node
    store = Store(clustered.parent / "store.db")
    assert sum(w["responses"] for w in workers) == info["responses_by_rank"][0] == store.count_responses()
    assert described["retried_batches"] == 0 and all(w["restarts"] == 0 for w in workers)


class KillAWorker(ConsoleUI):
    """Once the first responses are committed, SIGKILL the process of the worker with the most batches
    in flight (its unfinished batches are lost with it)."""

    def __init__(self):
        super().__init__(quiet=True)
        self.killed = None

    @contextmanager
    def progress(self, label):
        def update(done, total):
            pool = ray_pool.active()
            if self.killed is None and done > 0 and pool is not None:
                busiest = max(pool.slots, key=lambda s: s.in_flight)
                if busiest.in_flight:
                    self.killed = busiest.places[-1]["pid"]
                    os.kill(self.killed, signal.SIGKILL)

        yield update


def test_a_killed_worker_loses_nothing_and_nothing_is_computed_twice(cluster, tiny_model_dir, tmp_path):
    def many_docs(root):
        config = write_project(root, tiny_model_dir, batch_size=2, extra_toml='[suites.mixed]\ntasks = ["toyppl"]\n')
        with (root / "docs.jsonl").open("w") as handle:
            for i in range(160):
                handle.write(json.dumps({"id": f"d{i}", "text": DOCS[i % len(DOCS)] + f" Variant {i}."}) + "\n")
        return config

    single, clustered = many_docs(tmp_path / "single"), many_docs(tmp_path / "ray")
    run_in_process(single)
    ui = KillAWorker()
    run_in_process(clustered, cluster.address, ui)
    assert ui.killed is not None, "no worker had a batch in flight when the first responses came back"
    info = assert_same(single, clustered)
    described = info["parallel"]["ray"]
    assert described["retried_batches"] >= 1 and sum(w["restarts"] for w in described["workers"]) == 1
    killed = next(w for w in described["workers"] if w["restarts"])
    assert killed["processes"][0]["pid"] == ui.killed and killed["processes"][-1]["pid"] != ui.killed
    store = Store(clustered.parent / "store.db")
    assert sum(w["responses"] for w in described["workers"]) == 160 == store.count_responses()
    assert store.run()["status"] == "finished"


def rolling(texts):
    return [RollingRequest(text) for text in texts]


def test_a_worker_without_the_model_gets_the_drivers_copy(cluster, tiny_model_dir, tmp_path):
    copy = shutil.copytree(tiny_model_dir, tmp_path / "only-on-the-driver")
    spec = replace(load_config(write_project(tmp_path / "p", copy)).model("tiny"), batch_size=2)
    print_ = fingerprint(spec, ResolvedModel(copy, str(copy)))
    texts = DOCS[:6]
    with ray_workers(ParallelSettings(), cluster.address) as pool:
        shipped = pool._shipped(ModelTicket(spec, str(copy), print_), pool.slots)
        shutil.rmtree(copy)  # the workers' node no longer has the folder: only the shipped copy remains
        answered = dict(pool.compute(shipped, "rolling", rolling(texts)))
    from evalkit.backends import load_backend

    local = dict(load_backend(spec, tiny_model_dir).loglikelihood_rolling(rolling(texts)))
    assert sorted(answered) == list(range(len(texts)))
    for index, response in local.items():
        assert answered[index].logprob == pytest.approx(response.logprob, rel=1e-6)


def test_a_worker_that_cannot_find_the_model_says_so_before_any_load(cluster, tiny_model_dir, tmp_path):
    config_path = write_project(tmp_path, tiny_model_dir)
    spec = load_config(config_path).model("tiny")
    with ray_workers(ParallelSettings(ship=False), cluster.address) as pool:
        with pytest.raises(ModelError, match=r"find no copy of it .*parallel.ship = false; copy the folder"):
            pool.ticket(spec, tmp_path / "not-on-any-node", "0" * 24)
        assert all(s.responses == 0 for s in pool.slots)


def test_a_run_whose_workers_cannot_get_the_model_writes_no_response(cluster, tiny_model_dir, tmp_path, monkeypatch):
    config_path = write_project(tmp_path, tiny_model_dir,
                                extra_toml="[parallel]\nship = false\n[suites.mixed]\ntasks = [\"toyppl\"]\n")
    real = ray_pool.RayPool.ticket

    def elsewhere(pool, spec, folder, fingerprint):  # the driver's folder as a node without it sees it
        return real(pool, spec, tmp_path / "not-on-this-node", fingerprint)

    monkeypatch.setattr(ray_pool.RayPool, "ticket", elsewhere)
    with pytest.raises(ModelError, match="parallel.ship = false"):
        run_in_process(config_path, cluster.address)
    store = Store(tmp_path / "store.db")
    statuses = [row[0] for row in store.db.execute("SELECT status FROM runs")]
    assert store.count_responses() == 0 and statuses == ["failed"]


class StopTheDriver(ConsoleUI):
    """The driver dies (here: interrupted) once `after` responses are committed."""

    def __init__(self, after):
        super().__init__(quiet=True)
        self.after = after

    @contextmanager
    def progress(self, label):
        def update(done, total):
            if done >= self.after:
                raise KeyboardInterrupt

        yield update


def test_a_driver_stopped_mid_run_resumes_from_the_store(cluster, tiny_model_dir, tmp_path):
    config_path = write_project(tmp_path, tiny_model_dir, batch_size=2,
                                extra_toml='[suites.mixed]\ntasks = ["toyppl"]\n')
    with pytest.raises(KeyboardInterrupt):
        run_in_process(config_path, cluster.address, StopTheDriver(after=5))
    store = Store(tmp_path / "store.db")
    before = store.count_responses()
    assert 5 <= before < len(DOCS)
    run_in_process(config_path, cluster.address, ConsoleUI(quiet=True))
    described = store.run()["provenance"]["parallel"]["ray"]
    assert sum(w["responses"] for w in described["workers"]) == len(DOCS) - before  # only what was missing
    assert store.count_responses() == len(DOCS)


def test_answers_fan_out_over_the_workers(cluster, tiny_model_dir, tmp_path):
    from answers.test_generate import write_project as answers_project

    from evalkit.answers.generate import generate_answers

    config = answers_project(tmp_path, tiny_model_dir, tiny_model_dir, "batch_size = 2")
    single = generate_answers(config, ["a"], "prompts.jsonl", Store(tmp_path / "single.db"), ConsoleUI(quiet=True))
    with ray_workers(ParallelSettings(), cluster.address) as pool:
        spread = generate_answers(config, ["a"], "prompts.jsonl", Store(config.store), ConsoleUI(quiet=True))
        assert sum(s.responses for s in pool.slots) == len(single) == 5
    assert [(a.prompt_id, a.answer) for a in spread] == [(a.prompt_id, a.answer) for a in single]
