"""The stage registry: every stage is one registered object, and a stage registered from outside the package
(a toy here) is read by recipes, the command line and the pipeline with no other edit."""

import json

import pytest
from train_helpers import SFT_ROWS, write_jsonl

from evalkit.errors import ConfigError
from evalkit.train import sft
from evalkit.train.recipe import recipe_from_dict
from evalkit.train.stages import STAGES, TrainingStage, register, stackable, trainer_stage, unregister


@pytest.fixture
def toy_stage():
    """SFT under another name that counts its calls, registered for the test and removed after."""
    calls = []

    def build_trainer(model, tokenizer, dataset, recipe, checkpoints, peft_config, callbacks):
        calls.append(len(dataset))
        return sft.build_trainer(model, tokenizer, dataset, recipe, checkpoints, peft_config, callbacks)

    def rules(recipe):
        return [(recipe.train.max_steps <= 8, f"train.max_steps = {recipe.train.max_steps}; a toy trains 8 at most")]

    stage = register(TrainingStage("toy", "a toy stage", data="chat", trainer=build_trainer, rules=rules))
    yield stage, calls
    unregister("toy")


def toy_recipe(folder, **train):
    settings = {"learning_rate": 5e-3, "batch_size": 4, "max_steps": 4, "save_steps": 2, "max_length": 64,
                "eval_batch_size": 8, **train}
    return recipe_from_dict({"stage": "toy", "data": {"sources": [{"kind": "file", "path": "sft.jsonl"}],
                                                      "heldout": 8},
                             "model": {"method": "lora"}, "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
                             "train": settings}, folder / "toy.toml")


def test_every_stage_declares_one_way_to_make_its_model():
    assert set(STAGES) == {"sft", "dpo", "orpo", "reward", "pretrain", "merge", "stack", "distill"}
    assert stackable() == ["dpo", "orpo", "sft"]
    assert [name for name, s in STAGES.items() if not s.trains] == ["merge"]
    assert {name for name, s in STAGES.items() if s.head == "score"} == {"reward"}
    with pytest.raises(ValueError, match="exactly one of trainer, runs_as, builds"):
        TrainingStage("nothing", "makes no model")
    with pytest.raises(ValueError, match="already registered"):
        register(STAGES["sft"])


def test_a_stack_and_a_distillation_run_another_stages_trainer(tmp_path):
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    stacked = recipe_from_dict({"stage": "stack", "stack": {"stage": "orpo"},
                                "data": {"sources": [{"kind": "file", "path": "sft.jsonl"}]}}, tmp_path / "s.toml")
    distilled = recipe_from_dict({"stage": "distill", "distill": {"teacher": "t"},
                                  "data": {"sources": [{"kind": "file", "path": "sft.jsonl"}]}}, tmp_path / "d.toml")
    assert trainer_stage(stacked) is STAGES["orpo"] and trainer_stage(distilled) is STAGES["sft"]


def test_an_unregistered_stage_names_the_registered_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"stage = 'toy'; choose one of .*sft"):
        recipe_from_dict({"stage": "toy"}, tmp_path / "toy.toml")


def test_a_stage_registered_from_outside_reads_its_rules_and_shows_on_the_command_line(toy_stage, tmp_path):
    from evalkit.cli import build_parser

    with pytest.raises(ConfigError, match=r"toy\.toml: train\.max_steps = 9; a toy trains 8 at most"):
        toy_recipe(tmp_path, max_steps=9)
    assert "toy" in build_parser().parse_args(["train", "toy", "--recipe", "x.toml"]).stage


def test_a_toy_stage_trains_end_to_end_through_the_pipeline(toy_stage, tiny_model_dir, tmp_path, cache):
    from evalkit.store import Store
    from evalkit.train.build import build_model, trained_info

    stage, calls = toy_stage
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    parent = type("Handle", (), {"folder": str(tiny_model_dir), "fingerprint": "tiny"})()
    store = Store(tmp_path / "store.sqlite")
    folder = build_model(None, toy_recipe(tmp_path), "tiny", parent, store, quiet=True)
    info = json.loads((folder / "evalkit_training.json").read_text(encoding="utf-8"))
    assert calls == [40] and info["stage"] == "toy" and info["training"]["steps"] == 4
    assert set(info["heldout"]["after"]) >= {"assistant_perplexity"}  # measured as its chat data shape says
    assert trained_info(store, folder.name)["stage"] == "toy"
