"""Data-parallel evaluation: two CPU processes under `accelerate launch` (gloo) shard the requests,
merge them in one store, and give the numbers a single process gives."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kinds.test_choice import write_task as write_choice_task
from kinds.test_generate import MATH, MATH_TASK
from kinds.test_generate import write as write_generate_task
from project import write_project

from evalkit.models.parallel import World
from evalkit.store.db import Store


def test_shards_cover_every_key_once_whatever_the_size():
    keys = [f"k{i}" for i in range(11)]
    for size in (1, 2, 3, 8, 16):
        shares = [World(rank, size).shard(keys) for rank in range(size)]
        assert set().union(*shares) == set(keys) and sum(map(len, shares)) == len(keys)
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_a_single_process_world_is_a_no_op():
    world = World()
    assert world.is_main and world.gather(3) == [3] and world.main_first(lambda x: x + 1, 1) == 2
    world.barrier()


def project(root: Path, model_dir: Path) -> Path:
    config = write_project(root, model_dir, batch_size=3,
                           extra_toml='[suites.mixed]\ntasks = ["toyppl", "quiz", "math"]\n')
    write_choice_task(root / "tasks")
    write_generate_task(root / "tasks", "math", MATH_TASK, MATH)
    return config


def evalkit(config: Path, launcher: list[str], port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = [*launcher, "-m", "evalkit", "--config", str(config), "run", "--models", "tiny", "--suite", "mixed",
               "--quiet"]
    result = subprocess.run(command, env=env, cwd=config.parent, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def outcome(config: Path):
    store = Store(config.parent / "store.db")
    try:
        run = store.run()
        results = {(r["task"], r["metric"]): r["value"] for r in store.results(run["id"])}
        samples = {(s["task"], s["sample_id"]): (s["response"], json.dumps(s["scores"], sort_keys=True))
                   for s in store.samples(run["id"])}
        return results, samples, run["provenance"]
    finally:
        store.close()


def assert_same_outcome(single: Path, other: Path, **tolerance) -> tuple[dict, dict]:
    """Both runs have the same metrics (within `tolerance`, as pytest.approx takes it) and the same greedy
    text; returns their provenances."""
    results_1, samples_1, info_1 = outcome(single)
    results_2, samples_2, info_2 = outcome(other)
    assert results_1.keys() == results_2.keys() and samples_1.keys() == samples_2.keys()
    for key, value in results_1.items():
        assert value == pytest.approx(results_2[key], **tolerance), key
    assert [s[0] for s in samples_1.values()] == [s[0] for s in samples_2.values()]  # greedy text identical
    return info_1, info_2


@pytest.mark.slow
def test_two_cpu_processes_give_the_single_process_numbers(tiny_model_dir, tmp_path):
    single, parallel = project(tmp_path / "single", tiny_model_dir), project(tmp_path / "parallel", tiny_model_dir)
    evalkit(single, [sys.executable], 0)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29519"]
    evalkit(parallel, launch, 29519)

    info_1, info_2 = assert_same_outcome(single, parallel, abs=1e-4)
    by_rank = info_2["parallel"]["responses_by_rank"]
    assert info_2["parallel"]["world_size"] == 2 and info_2["parallel"]["backend"] == "gloo"
    assert len(by_rank) == 2 and min(by_rank) > 0 and sum(by_rank) == sum(info_1["parallel"]["responses_by_rank"])
    assert (parallel.parent / "reports" / "leaderboard.md").is_file()


def count_responses(config: Path) -> int:
    store = Store(config.parent / "store.db")
    try:
        return store.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        store.close()


@pytest.mark.slow
def test_ranks_on_separate_folders_send_their_responses_to_the_main_rank(tiny_model_dir, tmp_path):
    """As on two machines with no shared file system: each rank runs in its own copy of the project
    (torchrun's environment set by hand), and only the main rank's store receives responses."""
    single = project(tmp_path / "single", tiny_model_dir)
    ranks = [project(tmp_path / f"machine{rank}", tiny_model_dir) for rank in range(2)]
    evalkit(single, [sys.executable], 0)
    base = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29523", "LOCAL_WORLD_SIZE": "1"}
    launched = [subprocess.Popen([sys.executable, "-m", "evalkit", "--config", str(config), "run", "--models", "tiny",
                                  "--suite", "mixed", "--quiet"], cwd=config.parent, stderr=subprocess.PIPE, text=True,
                                 env={**base, "RANK": str(rank), "LOCAL_RANK": "0", "GROUP_RANK": str(rank)})
                for rank, config in enumerate(ranks)]
    errors = [process.communicate(timeout=600)[1] for process in launched]
    assert [process.returncode for process in launched] == [0, 0], [e[-3000:] for e in errors]

    info_1, info_2 = assert_same_outcome(single, ranks[0], abs=1e-4)
    by_rank = info_2["parallel"]["responses_by_rank"]
    assert len(by_rank) == 2 and min(by_rank) > 0 and sum(by_rank) == count_responses(ranks[0])
    assert count_responses(ranks[1]) == 0  # the other rank wrote nothing of its own
