"""Choice tasks beyond one prompt per question: Winogrande's partial scoring (the option in the
context, the shared suffix scored) and TruthfulQA's MC2 probability mass."""

import json
import math
from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import choice
from evalkit.tasks.loading import load_task
from evalkit.types import Loglikelihood

PARTIAL = """
name = "blanks"
version = 1
kind = "choice"

[[sources]]
kind = "file"
path = "blanks.jsonl"

[choice]
contexts = "context_options"
continuation = "{{ continuation }}"
gold = "gold"
metrics = ["acc"]

[fewshot]
sampler = "first_n"
"""
ROWS = [
    {"context_options": ["Ann beat Bo so Ann", "Ann beat Bo so Bo"], "continuation": "was sad.", "gold": 1},
    {"context_options": ["The cup fell off the shelf because the cup", "The cup fell off the shelf because the shelf"],
     "continuation": "was tilted.", "gold": 1},
    {"context_options": ["Cy paid Di since Cy", "Cy paid Di since Di"], "continuation": "owed money.", "gold": 0},
]

MC2 = """
name = "truths"
version = 1
kind = "choice"

[[sources]]
kind = "file"
path = "truths.jsonl"

[choice]
prompt = "Q: {{ question }}\\nA:"
choices = "choices"
gold = "gold"
metrics = ["mc2"]

[fewshot]
max_fewshot = 0
"""


def write(folder: Path, name: str, task: str, rows) -> Path:
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / f"{name}.toml").write_text(task)
    return folder / f"{name}.toml"


@pytest.fixture
def partial(tmp_path):
    return load_task(str(write(tmp_path, "blanks", PARTIAL, ROWS)))


def test_partial_scoring_puts_each_option_in_the_context_and_scores_the_suffix(partial):
    sample = partial.load_samples(TaskOptions())[0]
    requests = choice.requests(partial, sample, {"seed": 0})
    assert [(r.context, r.continuation) for r in requests] == [
        ("Ann beat Bo so Ann", " was sad."), ("Ann beat Bo so Bo", " was sad.")]


def test_partial_fewshot_examples_are_the_gold_context_and_suffix(partial):
    sample = partial.load_samples(TaskOptions())[2]
    requests = choice.requests(partial, sample, {"seed": 0, "num_fewshot": 2})
    examples = "Ann beat Bo so Bo was sad.\n\nThe cup fell off the shelf because the shelf was tilted.\n\n"
    assert [r.context for r in requests] == [examples + "Cy paid Di since Cy", examples + "Cy paid Di since Di"]
    assert {r.continuation for r in requests} == {" owed money."}


def test_partial_scoring_reports_acc_only(partial):
    samples = partial.load_samples(TaskOptions())
    answers = [[Loglikelihood(-3.0, False, 2), Loglikelihood(-1.0, True, 2)]] * 3
    records, metrics = choice.score(partial, samples, answers, {"seed": 0})
    assert [r["scores"]["acc"] for r in records] == [1.0, 1.0, 0.0]
    assert "acc_norm" not in records[0]["scores"] and [m["metric"] for m in metrics] == ["acc"]
    assert records[0]["response"] == "Ann beat Bo so Bo" and metrics[0]["info"]["primary"]
    with pytest.raises(ValueError, match="no metric 'acc_norm'"):
        choice.compare("acc_norm", records, records)


def test_partial_row_without_contexts_names_file_line_and_field(tmp_path):
    rows = ROWS[:1] + [{"continuation": "x.", "gold": 0}]
    task = load_task(str(write(tmp_path, "blanks", PARTIAL, rows)))
    with pytest.raises(DataError, match=r"blanks\.jsonl:2: \[choice\]\.contexts"):
        task.load_samples(TaskOptions())


def test_partial_task_needs_a_continuation(tmp_path):
    with pytest.raises(ConfigError, match="needs `continuation`"):
        load_task(str(write(tmp_path, "blanks", PARTIAL.replace('continuation = "{{ continuation }}"\n', ""), ROWS)))


def test_mc2_is_the_normalised_probability_of_the_true_answers(tmp_path):
    rows = [{"question": "Sky?", "choices": ["Blue.", "Blue by day.", "Green."], "gold": [0, 1]}]
    task = load_task(str(write(tmp_path, "truths", MC2, rows)))
    samples = task.load_samples(TaskOptions())
    lls = [-1.0, -2.0, -0.5]
    records, metrics = choice.score(task, samples, [[Loglikelihood(x, False, 1) for x in lls]], {"seed": 0})
    p = [math.exp(x) for x in lls]
    assert records[0]["scores"]["mc2"] == pytest.approx((p[0] + p[1]) / sum(p), rel=1e-12)
    assert [m["metric"] for m in metrics] == ["mc2"] and "acc" not in records[0]["scores"]


def test_mc2_survives_answers_too_long_for_exp():
    # exp(-900) is 0.0 in float64: the mass is still well defined relative to the best choice
    assert choice.probability_mass([-900.0, -901.0], [0]) == pytest.approx(1 / (1 + math.exp(-1)))


def test_num_fewshot_on_a_zero_shot_only_task_says_so(tmp_path):
    rows = [{"question": "Sky?", "choices": ["Blue.", "Green."], "gold": [0]}]
    task = load_task(str(write(tmp_path, "truths", MC2, rows)))
    sample = task.load_samples(TaskOptions())[0]
    with pytest.raises(ConfigError, match="'truths' is zero-shot only.*remove num_fewshot = 5"):
        choice.requests(task, sample, {"seed": 0, "num_fewshot": 5})


def test_unknown_metric_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"\[choice\]\.metrics = \['mc3'\]"):
        load_task(str(write(tmp_path, "truths", MC2.replace('["mc2"]', '["mc3"]'), [])))
