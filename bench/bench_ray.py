"""The Ray path on one machine against one process on the same cores, and how fast the driver commits.

    EVALKIT_DATA_DIR=../shared/data python bench/bench_ray.py [--tasks mmlu] [--limit 40] [--rounds 1]
        [--commit-seconds 3] [--no-append]

- one process: `evalkit run --models base --tasks ... --limit N` with torch on all --cores threads
  (EVALKIT_THREADS fixed), and with evalkit's default (torch's threads follow the cores others leave free).
- ray: the same command with `--ray ADDRESS`, on a local Ray cluster of --cores nodes of one CPU each
  (ray.cluster_utils.Cluster, started once by this script; its start is timed apart): one worker per
  node, one torch thread each. The driver plans, commits and scores; the workers load the model
  (each its own copy) and compute.
Both are whole commands as a user runs them (interpreter, imports, model loads included), fresh store each
time, alternated over --rounds; the per-task seconds from the run's provenance (requests, model calls,
scoring, without start-up) are shown beside them. The results of both must agree.
- commit: responses per second the store takes when each is committed on its own, as the driver does
  (one transaction per response, WAL, fsync as the store sets it): the rate past which one driver
  cannot keep up with its workers, whatever the cluster's size.
The model is the embedded SmolLM2-135M (float32).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl


def measure(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="mmlu")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--cores", type=int, default=2, help="torch threads of the one process = Ray nodes")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--commit-seconds", type=float, default=3.0)
    parser.add_argument("--no-append", action="store_true", help="print only; do not add to bench/RESULTS.md")
    args = parser.parse_args(argv)
    bl.data_dir()
    bl.model_folder()  # converted once, before anything is timed
    from ray.cluster_utils import Cluster

    started = time.perf_counter()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(args.cores - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    cluster_start = time.perf_counter() - started
    try:
        timings, task_seconds, results = run_both(args, cluster.address)
    finally:
        cluster.shutdown()
    report(args, timings, task_seconds, results, cluster_start)
    rate = commit_rate(args.commit_seconds)
    print(f"\nstore commits, one transaction per response: {rate:,.0f} responses/s")
    return 0


def run_both(args, address: str):
    folder = bl.WORK / "ray"
    config = bl.write_evalkit_config(folder, "bench", {t: {} for t in args.tasks.split(",")}, "float32", 16)
    base = bl.evalkit_command(config, "bench")[:-3] + ["--tasks", args.tasks, "--limit", str(args.limit), "--quiet"]
    commands = {"one process": base, "one, follow": base, "ray": base + ["--ray", address]}
    task_seconds: dict[str, list[float]] = {name: [] for name in commands}
    results: dict[str, list[dict]] = {}

    def runner(name):
        def run(repeat: int):
            bl.fresh_store(config)
            timing = bl.timed(commands[name], bl.offline_env(args.cores if name == "one process" else None),
                              bl.WORK / "logs" / f"ray-{name.replace(' ', '-')}-{repeat}.log")
            task_seconds[name].append(bl.evalkit_task_seconds(config))
            results[name] = bl.evalkit_outcome(config)[1]
            return timing

        return run

    timings = bl.alternate({name: runner(name) for name in commands}, args.rounds)
    return timings, task_seconds, results


def report(args, timings, task_seconds, results, cluster_start: float) -> None:
    one, follow, spread = (bl.median([t.wall for t in timings[n]]) for n in ("one process", "one, follow", "ray"))
    one_tasks, follow_tasks, ray_tasks = (bl.median(task_seconds[n]) for n in ("one process", "one, follow", "ray"))
    values = {n: {(r["task"], r["metric"]): r["value"] for r in rows} for n, rows in results.items()}
    agree = all(abs(v - values[other][k]) <= 1e-6 * max(1.0, abs(v)) for other in ("one, follow", "ray")
                for k, v in values["one process"].items())
    print(f"\n{args.tasks} --limit {args.limit}, SmolLM2-135M float32, {args.cores} cores "
          f"({bl.machine()}); Ray cluster start (once): {cluster_start:.1f} s")
    print(f"{'':12s} {'wall':>8s} {'in tasks':>9s}")
    print(f"{'one process':12s} {one:7.1f}s {one_tasks:8.1f}s   torch on {args.cores} threads")
    print(f"{'one, follow':12s} {follow:7.1f}s {follow_tasks:8.1f}s   torch's threads follow the free cores (default)")
    print(f"{'ray':12s} {spread:7.1f}s {ray_tasks:8.1f}s   {args.cores} workers of 1 CPU, one per node")
    print(f"ray / one process: {spread / one:.2f}x wall, {ray_tasks / one_tasks:.2f}x in tasks; against the "
          f"default: {spread / follow:.2f}x wall, {ray_tasks / follow_tasks:.2f}x in tasks; "
          f"results agree: {'yes' if agree else 'NO'}")
    print("(CPU seconds above count the driver's process only: Ray's workers are children of its raylets)")


def commit_rate(seconds: float) -> float:
    """Responses per second the store commits one at a time (fetch_responses' pattern)."""
    from evalkit.store.db import Store
    from evalkit.types import Generation, GenerationRequest, request_key

    folder = Path(tempfile.mkdtemp(prefix="evalkit-commit-"))
    store = Store(folder / "store.db")
    try:
        text = "The answer is 42, because " * 20  # a few hundred characters: a short generated answer
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            request = GenerationRequest(prompt=f"Question {done}?", max_new_tokens=128)
            response = Generation(text=text, n_tokens=120, finish_reason="length")
            store.put_responses("bench", [(request_key("bench", request), request, response)])
            done += 1
        return done / (time.perf_counter() - start)
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with bl.Tee() as tee:
        code = measure(argv)
    if "--no-append" not in argv:  # versions from this environment (Ray is not in lm-eval's)
        import ray

        bl.append_results("Ray path against one process on the same cores", f"bench/bench_ray.py {' '.join(argv)}; "
                          f"ray {ray.__version__}", tee.as_block(), [], Path(sys.prefix))
    return code


if __name__ == "__main__":
    sys.exit(main())
