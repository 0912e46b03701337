"""One scored continuation per item (LAMBADA): greedy accuracy, perplexity over items, bad rows."""

import json
import math
from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import KINDS, loglikelihood
from evalkit.tasks.loading import load_task
from evalkit.types import Loglikelihood

TASK = """
name = "lastword"
version = 1
kind = "loglikelihood"

[[sources]]
kind = "file"
path = "lastword.jsonl"

[loglikelihood]
context = "{{ context }}"
continuation = " {{ continuation }}"
"""
ROWS = [{"context": "The cat sat on the", "continuation": "mat"},
        {"context": "She opened the", "continuation": "door"},
        {"context": "He drank a cup of", "continuation": "tea"}]


def write(folder: Path, rows=ROWS, task=TASK) -> Path:
    (folder / "lastword.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "lastword.toml").write_text(task)
    return folder / "lastword.toml"


@pytest.fixture
def task(tmp_path):
    return load_task(str(write(tmp_path)))


def test_request_is_context_and_spaced_last_word(task):
    sample = task.load_samples(TaskOptions())[0]
    (request,) = loglikelihood.requests(task, sample, {"seed": 0})
    assert (request.context, request.continuation) == ("The cat sat on the", " mat")


def test_acc_is_greedy_share_and_perplexity_is_exp_of_mean_negative_loglikelihood(task):
    samples = task.load_samples(TaskOptions())
    answers = [[Loglikelihood(-1.0, True, 1)], [Loglikelihood(-2.0, False, 1)], [Loglikelihood(-4.5, True, 2)]]
    records, metrics = loglikelihood.score(task, samples, answers, {"seed": 0})
    by_name = {m["metric"]: m for m in metrics}
    assert by_name["acc"]["value"] == pytest.approx(2 / 3)
    assert by_name["perplexity"]["value"] == pytest.approx(math.exp(7.5 / 3))
    assert by_name["perplexity"]["ci_low"] <= by_name["perplexity"]["value"] <= by_name["perplexity"]["ci_high"]
    assert not by_name["perplexity"]["info"]["higher_is_better"] and KINDS["loglikelihood"].lower_is_better("perplexity")
    assert [r["scores"]["acc"] for r in records] == [1.0, 0.0, 1.0]


def test_compare_acc_and_perplexity(task):
    samples = task.load_samples(TaskOptions())
    better = loglikelihood.score(task, samples, [[Loglikelihood(-1.0, True, 1)]] * 3, {"seed": 0})[0]
    worse = loglikelihood.score(task, samples, [[Loglikelihood(-3.0, False, 1)]] * 3, {"seed": 0})[0]
    assert loglikelihood.compare("acc", better, worse).diff == pytest.approx(1.0)
    assert loglikelihood.compare("perplexity", better, worse).diff == pytest.approx(math.e - math.e ** 3)
    with pytest.raises(ValueError, match="acc and perplexity"):
        loglikelihood.compare("bleu", better, worse)


def test_missing_field_names_file_and_line(tmp_path):
    task = load_task(str(write(tmp_path, ROWS[:2] + [{"context": "no last word"}])))
    with pytest.raises(DataError, match=r"lastword\.jsonl:3: \[loglikelihood\].*continuation"):
        task.load_samples(TaskOptions())


def test_zero_shot_only(task, tmp_path):
    sample = task.load_samples(TaskOptions())[0]
    with pytest.raises(ConfigError, match="zero-shot only.*num_fewshot = 5"):
        loglikelihood.requests(task, sample, {"seed": 0, "num_fewshot": 5})
    with pytest.raises(ConfigError, match="remove the \\[fewshot\\] table"):
        load_task(str(write(tmp_path, task=TASK + "\n[fewshot]\nnum_fewshot = 1\n")))
