"""A reward-model judge built on demand from a recipe (as the default config's `reward-local`): trained
once on the tiny model, then judging; its training data is checked against the prompt set first."""

import json

import pytest

from evalkit.config import load_config
from evalkit.errors import DataError
from evalkit.judge import run_judge
from evalkit.judge.verdicts import judge_infos, judged_pairs
from evalkit.progress.console import ConsoleUI
from evalkit.report.judge import judge_section
from evalkit.store.db import Store

PAIRS = [{"prompt": f"What is {i} plus {i}?", "chosen": f"The answer is {2 * i}.",
          "rejected": f"I think it is {2 * i + 3}, maybe."} for i in range(24)]
RECIPE = """stage = "reward"
[data]
sources = [{ kind = "file", path = "pref.jsonl" }]
heldout = 4
[decontamination]
ngram = 4
[model]
method = "lora"
[lora]
r = 4
alpha = 8
dropout = 0.0
[train]
learning_rate = 5e-3
batch_size = 4
max_steps = 2
save_steps = 2
max_length = 48
eval_batch_size = 4
"""
PROMPT_SET = """name = "few"
version = 1
id = "{{ id }}"
prompt = "{{ prompt }}"
[[sources]]
kind = "file"
path = "few.jsonl"
[generate]
max_new_tokens = 4
"""


def project(folder, model_dir, prompts):
    (folder / "pref.jsonl").write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    (folder / "reward.toml").write_text(RECIPE)
    (folder / "promptsets").mkdir()
    (folder / "promptsets" / "few.toml").write_text(PROMPT_SET)
    (folder / "promptsets" / "few.jsonl").write_text(
        "".join(json.dumps({"id": f"q{i}", "prompt": p}) + "\n" for i, p in enumerate(prompts)))
    (folder / "evalkit.toml").write_text(f"""
[project]
store = "store.db"
seed = 1
[models.one]
source = "{model_dir}"
[models.two]
source = "{model_dir}"
chat_template = false
[judges.rm]
prompt = "mtbench-pairwise"
model = {{ recipe = "reward.toml", parent = "one" }}
method = "reward"
prompt_set = "few"
position = "calibrated"
description = "a reward model trained for two steps: numbers mean nothing"
[suites.default]
tasks = ["news"]
judge = "rm"
""")
    return load_config(folder / "evalkit.toml")


def test_a_recipe_reward_judge_is_built_without_the_rows_that_overlap_its_prompts_and_judges(
        tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    config = project(tmp_path, tiny_model_dir, ["Name a colour of the evening sky.", "What is 7 plus 7? Show the steps."])
    store = Store(config.store)
    summary = run_judge(config, ["one", "two"], "rm", None, store, ConsoleUI(quiet=True))
    assert (summary.judged, summary.unscored, summary.missing) == (4, 0, 0)
    assert list((tmp_path / "cache" / "trained").iterdir())  # built into the model cache like any candidate
    pairs = judged_pairs(store, "few", "rm")
    assert len(pairs) == 2 and all(p.probs_ab and p.probs_ba for p in pairs)
    overlap = judge_infos(store)[("rm", "few")]["prompt_set_overlap"]
    assert (overlap["checked"], overlap["overlapping"], overlap["dropped"], overlap["ngram"]) == (20, 1, 1, 4)
    assert "7 plus 7" in overlap["examples"][0]["ngram"]
    [built] = [json.loads(row[0]) for row in store.db.execute("SELECT provenance FROM trained_models")]
    decontamination = built["decontamination"]  # what the build itself dropped: the row about 7 + 7
    assert "prompt set few" in decontamination["tasks"] and decontamination["dropped"] == 1
    assert "7 plus 7" in decontamination["examples"][0]["ngram"]
    section = "\n".join(judge_section(store, {}, tmp_path / "reports"))
    assert ("was decontaminated against this prompt set: 1 of 20 rows share a 4-gram with a prompt and were "
            "dropped before training") in section
    assert "Position rule: **calibrated**" in section and "| one vs two | calibrated |" not in section
    assert "| two vs one | calibrated |" in section


def test_a_reward_judge_whose_recipe_keeps_overlapping_rows_is_refused_before_it_is_built(
        tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    config = project(tmp_path, tiny_model_dir, ["What is 7 plus 7? Show the steps."])
    (tmp_path / "reward.toml").write_text(RECIPE.replace("ngram = 4", "ngram = 4\ndrop = false"))
    with pytest.raises(DataError, match=r"judge 'rm': 1 of 20 training rows of .*reward.toml share a 4-gram with "
                                        r"prompt set 'few' .*decontamination.drop = false keeps them"):
        run_judge(config, ["one", "two"], "rm", None, Store(config.store), ConsoleUI(quiet=True))
    assert not (tmp_path / "cache" / "trained").exists()
