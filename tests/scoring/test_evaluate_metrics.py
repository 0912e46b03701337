"""A Hugging Face `evaluate` metric as a scorer of a generation task, loaded offline from a local module."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError
from evalkit.kinds import generate
from evalkit.tasks.loading import load_task
from evalkit.types import Generation

METRIC = Path(__file__).parent / "metrics" / "word_overlap.py"
ROWS = '{"q": "Name the sky colour.", "a": "the sky is blue"}\n{"q": "Name a fruit.", "a": "an apple"}\n'


def task_file(tmp_path, scorer: str, args: str = "", primary: str = "") -> Path:
    (tmp_path / "rows.jsonl").write_text(ROWS)
    path = tmp_path / "overlap.toml"
    path.write_text(f'name = "overlap"\nversion = 1\nkind = "generate"\nscorers = ["{scorer}"]\n'
                    f'[[sources]]\nkind = "file"\npath = "rows.jsonl"\n'
                    f'[generate]\nprompt = "{{{{ q }}}}"\ntarget = "{{{{ a }}}}"\n{primary}' + args)
    return path


def test_a_local_metric_module_scores_each_item_with_its_arguments(tmp_path):
    scorer = f"evaluate:{METRIC}"
    args = f'[scorer_args."{scorer}"]\nkey = "overlap"\nlowercase = false\n'
    task = load_task(str(task_file(tmp_path, scorer, args)))
    samples = task.load_samples(TaskOptions())
    records, metrics = generate.score(task, samples, [[Generation("The sky is blue", 4, "stop")],
                                                      [Generation("an apple", 2, "stop")]], {"seed": 0})
    assert [r["scores"][scorer] for r in records] == [0.75, 1.0]  # "the" ≠ "The" with lowercase = false
    (row,) = [m for m in metrics if m["metric"] == scorer]
    assert row["value"] == pytest.approx(0.875) and row["n"] == 2 and row["ci_low"] <= 0.875 <= row["ci_high"]
    assert row["info"]["primary"]


def test_a_metric_with_several_numbers_must_say_which_is_the_score(tmp_path):
    with pytest.raises(ConfigError, match=r"returns \['mean_overlap', 'overlap'\]; say which is the score with key"):
        load_task(str(task_file(tmp_path, f"evaluate:{METRIC}")))


def test_a_metric_that_cannot_be_loaded_says_it_needs_the_hub_or_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"scorer 'evaluate:no_such_metric_here'.*could not be loaded.*needs the hub "
                                          r"\(online\), or give the path of a local metric module"):
        load_task(str(task_file(tmp_path, "evaluate:no_such_metric_here")))
