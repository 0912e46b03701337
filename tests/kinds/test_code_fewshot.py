"""Code tasks with few-shot prompts and their own program layout (MBPP: completion + asserts)."""

import json

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError
from evalkit.kinds import code
from evalkit.tasks.loading import load_task
from evalkit.types import Generation

TASK = """
name = "asserts"
version = 1
kind = "code"
id_field = "task_id"

[[sources]]
kind = "file"
path = "asserts.jsonl"
where = "task_id >= 10"

[code]
prompt = "Task: {{ text }}\\n{{ tests | join('\\n') }}\\n[BEGIN]\\n"
fewshot_target = "{{ code }}\\n[DONE]"
target_delimiter = ""
test = "{{ tests | join('\\n') }}"
program = "{{ completion }}\\n{{ test }}"
stop = ["[DONE]"]
timeout_s = 5

[fewshot]
num_fewshot = 1
max_fewshot = 1
sampler = "first_n"

[[fewshot.sources]]
kind = "file"
path = "asserts.jsonl"
where = "task_id == 1"
"""
ROWS = [
    {"task_id": 1, "text": "Add.", "code": "def add(a, b):\n    return a + b", "tests": ["assert add(1, 2) == 3"]},
    {"task_id": 10, "text": "Double.", "code": "", "tests": ["assert double(2) == 4", "assert double(0) == 0"]},
]


@pytest.fixture
def task(tmp_path):
    (tmp_path / "asserts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "asserts.toml").write_text(TASK)
    return load_task(str(tmp_path / "asserts.toml"))


def test_fewshot_prompt_and_where_filter(task):
    samples = task.load_samples(TaskOptions())
    assert [s.id for s in samples] == ["10"]
    (request,) = code.requests(task, samples[0], {"seed": 0})
    assert request.prompt == ("Task: Add.\nassert add(1, 2) == 3\n[BEGIN]\ndef add(a, b):\n    return a + b\n[DONE]\n\n"
                              "Task: Double.\nassert double(2) == 4\nassert double(0) == 0\n[BEGIN]\n")
    assert request.stop == ("[DONE]",)
    with pytest.raises(ConfigError, match="at most 1 examples"):
        code.requests(task, samples[0], {"seed": 0, "num_fewshot": 3})


def test_right_and_wrong_programs_run_in_the_sandbox(task):
    samples = task.load_samples(TaskOptions()) * 2
    answers = [[Generation("def double(x):\n    return 2 * x\n", 9, "stop")], [Generation("def double(x):\n    return x\n", 9, "stop")]]
    records, _ = code.score(task, samples, answers, {"seed": 0})
    assert [r["scores"]["pass@1"] for r in records] == [1.0, 0.0]
    assert records[0]["prompt"].startswith("Task: Add.")
