"""Code tasks: completions run in the sandbox, pass@k, unscored sandbox failures, seeds."""

import json
import math
from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import code
from evalkit.sandbox.execute import Outcome
from evalkit.tasks.loading import load_task
from evalkit.types import Generation

TASK = """
name = "funcs"
version = 1
kind = "code"
id_field = "task_id"

[[sources]]
kind = "file"
path = "funcs.jsonl"

[code]
prompt = "{{ prompt }}"
test = "{{ test }}"
entry_point = "{{ entry_point }}"
stop = ["\\ndef"]
max_new_tokens = 128
timeout_s = 2
"""

PROBLEMS = [
    {"task_id": "add", "prompt": "def add(a, b):\n", "entry_point": "add",
     "test": "def check(f):\n    assert f(2, 3) == 5\n    assert f(-1, 1) == 0\n"},
    {"task_id": "double", "prompt": "def double(x):\n    \"\"\"Twice x.\"\"\"\n", "entry_point": "double",
     "test": "def check(f):\n    assert f(4) == 8\n"},
]
RIGHT = ["    return a + b\n", "    return 2 * x\n"]
WRONG = ["    return a - b\n", "    return x\n"]


def write_task(folder: Path, task: str = TASK, rows=PROBLEMS) -> Path:
    (folder / "funcs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "funcs.toml"
    path.write_text(task)
    return path


@pytest.fixture
def task(tmp_path):
    return load_task(str(write_task(tmp_path)))


def generations(per_problem):
    return [[Generation(text, 5, "stop") for text in texts] for texts in per_problem]


def test_right_and_wrong_completions_run_in_the_sandbox(task):
    samples = task.load_samples(TaskOptions())
    records, metrics = code.score(task, samples, generations([[RIGHT[0]], [WRONG[1]]]), {"seed": 0})
    assert [r["scores"]["pass@1"] for r in records] == [1.0, 0.0]
    assert records[0]["scores"]["outcomes"][0]["status"] == "passed"
    failed = records[1]["scores"]["outcomes"][0]
    assert failed["status"] == "failed" and "AssertionError" in failed["reason"]
    assert records[0]["response"] == RIGHT[0] and records[0]["sample_id"] == "add"
    (row,) = metrics
    assert row["metric"] == "pass@1" and row["value"] == 0.5 and row["n"] == 2 and row["unscored"] == 0


def test_a_hanging_completion_times_out_and_is_recorded(task):
    samples = task.load_samples(TaskOptions(limit=1))
    records, _ = code.score(task, samples, generations([["    while True:\n        pass\n"]]), {"seed": 0})
    outcome = records[0]["scores"]["outcomes"][0]
    assert outcome["status"] == "timeout" and records[0]["scores"]["pass@1"] == 0.0


def fake_outcomes(statuses):
    return [Outcome(s == "passed", s, f"{s} (fake)", 0, 0.01, "", "") for s in statuses]


def test_pass_at_k_is_the_unbiased_estimator_and_sandbox_errors_are_unscored(task, monkeypatch):
    samples = task.load_samples(TaskOptions())
    statuses = ["passed", "failed", "passed", "failed", "sandbox_error",   # problem 1: 2 of 5
                "failed", "failed", "failed", "failed", "failed"]          # problem 2: 0 of 5
    monkeypatch.setattr("evalkit.sandbox.execute.run_tests", lambda tests, limits: fake_outcomes(statuses))
    options = {"seed": 0, "n": 5, "temperature": 0.8, "ks": [1, 2, 10]}
    records, metrics = code.score(task, samples, generations([["x"] * 5, ["y"] * 5]), options)
    by_name = {m["metric"]: m for m in metrics}
    assert set(by_name) == {"pass@1", "pass@2"}  # pass@10 needs 10 samples per problem
    assert records[0]["scores"]["pass@2"] == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))
    assert by_name["pass@1"]["value"] == pytest.approx((2 / 5 + 0) / 2)
    assert by_name["pass@1"]["unscored"] == 1 and records[0]["scores"]["unscored"] == 1
    assert records[0]["scores"]["outcomes"][4]["status"] == "sandbox_error"
    assert json.loads(records[0]["response"]) == ["x"] * 5


def test_n_samples_get_distinct_seeds(task):
    sample = task.load_samples(TaskOptions())[0]
    requests = code.requests(task, sample, {"seed": 100, "n": 4, "temperature": 0.8})
    assert [r.seed for r in requests] == [100, 101, 102, 103]
    assert {r.prompt for r in requests} == {PROBLEMS[0]["prompt"]} and requests[0].temperature == 0.8
    (greedy,) = code.requests(task, sample, {"seed": 100})
    assert greedy.seed == 0 and greedy.temperature == 0.0 and greedy.stop == ("\ndef",)


def test_many_greedy_samples_is_a_config_error(task):
    sample = task.load_samples(TaskOptions())[0]
    with pytest.raises(ConfigError, match="4 identical greedy completions"):
        code.requests(task, sample, {"seed": 0, "n": 4})


def test_compare_pass_at_1(task):
    samples = task.load_samples(TaskOptions())
    a, _ = code.score(task, samples, generations([[RIGHT[0]], [RIGHT[1]]]), {"seed": 0})
    b, _ = code.score(task, samples, generations([[WRONG[0]], [RIGHT[1]]]), {"seed": 0})
    result = code.compare("pass@1", a, b)
    assert result.method == "mcnemar exact" and result.diff == 0.5


def test_empty_test_field_names_file_and_line(tmp_path):
    rows = PROBLEMS[:1] + [{**PROBLEMS[1], "test": "  "}]
    task = load_task(str(write_task(tmp_path, rows=rows)))
    with pytest.raises(DataError, match=r"funcs\.jsonl:2: \[code\]\.test renders empty"):
        task.load_samples(TaskOptions())


def test_malformed_task_file(tmp_path):
    path = write_task(tmp_path, task=TASK.replace('entry_point = "{{ entry_point }}"\n', ""))
    with pytest.raises(ConfigError, match=r"\[code\] needs `entry_point`"):
        load_task(str(path))
