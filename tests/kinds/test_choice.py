"""Multiple choice by log-likelihood: prompts, few-shot, scoring, comparison, bad input."""

import json
from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import choice
from evalkit.tasks.loading import load_task
from evalkit.types import Loglikelihood

TASK = """
name = "quiz"
version = 1
kind = "choice"
subject_field = "topic"

[[sources]]
kind = "file"
path = "quiz.jsonl"

[choice]
description = "Questions about {{ topic }}.\\n\\n"
prompt = "{{ q }}\\nAnswer:"
choices = "options"
gold = "label"

[fewshot]
sampler = "first_n"
match_field = "topic"

[[fewshot.sources]]
kind = "file"
path = "dev.jsonl"
"""

ROWS = [
    {"q": "2 + 2?", "options": ["4", "five"], "label": 0, "topic": "maths"},
    {"q": "Capital of France?", "options": ["Rome", "Paris"], "label": 1, "topic": "geography"},
    {"q": "3 * 3?", "options": ["9", "6"], "label": 0, "topic": "maths"},
]
DEV = [
    {"q": "Largest ocean?", "options": ["Pacific", "Baltic"], "label": 0, "topic": "geography"},
    {"q": "1 + 1?", "options": ["3", "2"], "label": 1, "topic": "maths"},
    {"q": "5 - 1?", "options": ["4", "0"], "label": 0, "topic": "maths"},
]


def write_task(folder: Path, task: str = TASK, rows=ROWS, dev=DEV) -> Path:
    (folder / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dev))
    path = folder / "quiz.toml"
    path.write_text(task)
    return path


@pytest.fixture
def task(tmp_path):
    return load_task(str(write_task(tmp_path)))


def test_requests_one_per_choice_with_delimiter(task):
    sample = task.load_samples(TaskOptions())[0]
    requests = choice.requests(task, sample, {"seed": 0})
    assert [r.continuation for r in requests] == [" 4", " five"]
    assert {r.context for r in requests} == {"Questions about maths.\n\n2 + 2?\nAnswer:"}


def test_fewshot_first_n_of_same_subject_in_lm_eval_layout(task):
    sample = task.load_samples(TaskOptions())[0]
    context = choice.requests(task, sample, {"seed": 0, "num_fewshot": 2})[0].context
    assert context == ("Questions about maths.\n\n"
                       "1 + 1?\nAnswer: 2\n\n"
                       "5 - 1?\nAnswer: 4\n\n"
                       "2 + 2?\nAnswer:")


def test_too_few_fewshot_examples_says_how_many(task):
    sample = task.load_samples(TaskOptions())[1]  # geography: one dev example
    with pytest.raises(DataError, match=r"2-shot needs 2 examples with topic = 'geography'.*has 1"):
        choice.requests(task, sample, {"seed": 0, "num_fewshot": 2})


def responses_for(lls_per_sample):
    return [[Loglikelihood(lp, False, 1) for lp in lls] for lls in lls_per_sample]


def test_score_acc_acc_norm_and_per_subject_rows(task):
    samples = task.load_samples(TaskOptions())
    lls = [[-1.0, -3.0],   # "4": right
           [-5.0, -1.0],   # "Paris": right
           [-2.0, -1.0]]   # "6": wrong, per character too
    records, metrics = choice.score(task, samples, responses_for(lls), {"seed": 0})
    by_name = {m["metric"]: m for m in metrics}
    assert [r["scores"]["acc"] for r in records] == [1.0, 1.0, 0.0]
    assert by_name["acc"]["value"] == pytest.approx(2 / 3)
    assert by_name["acc"]["n"] == 3 and by_name["acc"]["info"]["primary"] is True
    assert by_name["acc/maths"]["value"] == 0.5 and by_name["acc/maths"]["n"] == 2
    assert by_name["acc/geography"]["n"] == 1
    assert by_name["acc"]["ci_low"] < by_name["acc"]["value"] < by_name["acc"]["ci_high"]
    assert records[1]["response"] == "Paris" and records[1]["target"] == "Paris"
    assert records[0]["scores"]["loglikelihoods"] == [-1.0, -3.0]


def test_acc_norm_divides_by_characters(tmp_path):
    rows = [{"q": "Pick", "options": ["a", "bbbbbbbbbb"], "label": 1, "topic": "t"}]
    task = load_task(str(write_task(tmp_path, rows=rows)))
    samples = task.load_samples(TaskOptions())
    # Raw: "a" wins (-2 > -5); per character: -2/1 < -5/10, so the long gold choice wins.
    records, _ = choice.score(task, samples, responses_for([[-2.0, -5.0]]), {"seed": 0})
    assert records[0]["scores"]["acc"] == 0.0 and records[0]["scores"]["acc_norm"] == 1.0


def test_compare_is_mcnemar_and_per_subject(task):
    samples = task.load_samples(TaskOptions())
    records_a, _ = choice.score(task, samples, responses_for([[-1, -3], [-5, -1], [-1, -2]]), {"seed": 0})
    records_b, _ = choice.score(task, samples, responses_for([[-3, -1], [-1, -5], [-2, -1]]), {"seed": 0})
    result = choice.compare("acc", records_a, records_b)
    assert result.method == "mcnemar exact" and result.diff == pytest.approx(1.0) and result.n == 3
    assert choice.compare("acc/maths", records_a, records_b).n == 2
    with pytest.raises(ValueError, match="no metric 'f1'"):
        choice.compare("f1", records_a, records_b)


def test_gold_out_of_range_names_file_and_line(tmp_path):
    rows = ROWS[:1] + [{"q": "?", "options": ["x", "y"], "label": 4, "topic": "maths"}]
    task = load_task(str(write_task(tmp_path, rows=rows)))
    with pytest.raises(DataError, match=r"quiz\.jsonl:2: .*index 0\.\.1.*got 4"):
        task.load_samples(TaskOptions())


def test_missing_field_names_file_line_and_fields(tmp_path):
    rows = ROWS[:2] + [{"question": "?", "options": ["x", "y"], "label": 0, "topic": "maths"}]
    task = load_task(str(write_task(tmp_path, rows=rows)))
    with pytest.raises(DataError, match=r"quiz\.jsonl:3: .*'q' is undefined.*row fields: _file, label, options, question"):
        task.load_samples(TaskOptions())


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('gold = "label"\n', ""), r"\[choice\] needs `gold`"),
    (lambda t: t.replace('prompt = "{{ q }}', 'prompt = "{{ q '), r"\[choice\]\.prompt is not a valid template"),
    (lambda t: t.replace('sampler = "first_n"', 'sampler = "best"'), r"sampler = 'best'; choose one of first_n"),
    (lambda t: t.replace("[choice]\n", "[choice]\nchoice = 1\n"), r"unknown key choice.choice"),
])
def test_malformed_task_file_names_file_and_key(tmp_path, edit, message):
    path = write_task(tmp_path, task=edit(TASK))
    with pytest.raises(ConfigError, match=message) as err:
        load_task(str(path))
    assert str(path) in str(err.value)


def test_tiny_model_scores_each_choice_after_the_shared_context(task, tiny_model_dir):
    from dataclasses import replace

    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec

    backend = HFBackend(replace(ModelSpec(name="tiny", source=str(tiny_model_dir)), batch_size=4), tiny_model_dir)
    samples = task.load_samples(TaskOptions())
    options = {"seed": 0, "num_fewshot": 1}
    per_sample = [choice.requests(task, s, options) for s in samples]
    flat = [r for rs in per_sample for r in rs]
    answers = dict(backend.loglikelihood(flat))
    grouped, start = [], 0
    for rs in per_sample:
        grouped.append([answers[start + i] for i in range(len(rs))])
        start += len(rs)
    records, metrics = choice.score(task, samples, grouped, options)
    alone = dict(backend.loglikelihood(per_sample[1]))  # the same requests on their own
    assert records[1]["scores"]["loglikelihoods"] == pytest.approx([alone[0].logprob, alone[1].logprob], abs=1e-4)
    assert all(lp < 0 for r in records for lp in r["scores"]["loglikelihoods"])
    assert {m["metric"] for m in metrics} >= {"acc", "acc_norm", "acc/maths", "acc_norm/geography"}
    assert metrics[0]["info"]["fewshot"]["num_fewshot"] == 1


def test_shuffle_choices_moves_the_gold_answer_with_a_fixed_seed(tmp_path):
    """A task whose data always puts the right answer first (factual_pairs) shuffles each row's options with
    a seed: the gold follows its option, the order is the same on every load, and the gold position varies."""
    rows = [{"q": f"Item {i}?", "options": [f"right {i}", f"wrong {i}"], "label": 0, "topic": "t"} for i in range(40)]
    shuffled = TASK.replace('gold = "label"\n', 'gold = "label"\nshuffle_choices = 1234\n')
    task = load_task(str(write_task(tmp_path, task=shuffled, rows=rows)))
    samples = task.load_samples(TaskOptions())
    lls = [[-1.0 if c.continuation.startswith(" right") else -2.0 for c in choice.requests(task, s, {"seed": 0})]
           for s in samples]
    records, _ = choice.score(task, samples, responses_for(lls), {"seed": 0})
    assert all(r["scores"]["acc"] == 1.0 and r["target"].startswith("right") for r in records)
    positions = [r["scores"]["gold"][0] for r in records]
    assert 10 <= positions.count(0) <= 30  # both positions, roughly half each
    again = [r["scores"]["gold"][0] for r in choice.score(task, samples, responses_for(lls), {"seed": 0})[0]]
    assert again == positions
    (tmp_path / "b").mkdir()
    reseeded = load_task(str(write_task(tmp_path / "b", task=shuffled.replace("1234", "7"), rows=rows)))
    other = [choice._gold(reseeded, s.row, 2) for s in reseeded.load_samples(TaskOptions())]
    assert other != positions


def test_shuffle_choices_must_be_an_integer_seed(tmp_path):
    path = write_task(tmp_path, task=TASK.replace('gold = "label"\n', 'gold = "label"\nshuffle_choices = true\n'))
    with pytest.raises(ConfigError, match=r"\[choice\]\.shuffle_choices = True.*integer seed"):
        load_task(str(path))
