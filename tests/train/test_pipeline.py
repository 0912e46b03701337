"""End to end on the tiny model, a few steps each: QLoRA SFT and DPO, merge check, provenance, loss curve."""

import json

import pytest
from train_helpers import tiny_recipe

from evalkit.train.pipeline import LOSS_CURVE, PROVENANCE, make_plan, run_stage


def train(recipe, tiny_model_dir, tmp_path):
    plan = make_plan(recipe, "tiny", tiny_model_dir, "parent-fingerprint")
    out = tmp_path / "out" / plan.key
    info = run_stage(plan, out, tmp_path / "work", quiet=True)
    return plan, out, info


def test_sft_loss_goes_down_and_the_model_is_a_plain_hf_folder(tiny_model_dir, data_files, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recipe = tiny_recipe(data_files, "sft", train={"max_steps": 8, "learning_rate": 1e-2})
    plan, out, info = train(recipe, tiny_model_dir, tmp_path)
    losses = [h["loss"] for h in info["training"]["log_history"] if "loss" in h]
    assert len(losses) == 8 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert info["method"] == "qlora" and info["merge"]["max_logit_difference"] < 1e-3
    before, after = info["heldout"]["before"], info["heldout"]["after"]
    assert after["assistant_perplexity"] < before["assistant_perplexity"] and after["n"] == 8
    saved = json.loads((out / PROVENANCE).read_text())
    assert saved["data"]["train_rows"] == 40 and saved["parent"]["fingerprint"] == "parent-fingerprint"
    assert saved["recipe"]["settings"]["lora"]["r"] == 8 and saved["packages"]["trl"]
    assert (out / LOSS_CURVE).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "work").exists()  # checkpoints are removed once the model is saved
    model = AutoModelForCausalLM.from_pretrained(out)  # plain weights: no adapter, no quantisation config
    assert not hasattr(model.config, "quantization_config")
    assert AutoTokenizer.from_pretrained(out).chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template


def test_sft_labels_are_exactly_the_assistant_turns(tiny_model_dir, data_files, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.train import sft
    from evalkit.train.data import load_examples

    recipe = tiny_recipe(data_files, "sft", model={"method": "lora"})
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = load_examples(recipe, data_files).items[:4]
    from datasets import Dataset

    trainer = sft.build_trainer(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer,
                                Dataset.from_list([e.data for e in examples]), recipe, tmp_path / "ck", None, [])
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for example, row in zip(examples, trainer.train_dataset):
        trained = [t for t in row["labels"] if t != -100]
        reply = example.data["messages"][-1]["content"]
        assert trained == tokenizer.encode(reply, add_special_tokens=False) + [end]


def test_dpo_raises_preference_for_the_chosen_reply(tiny_model_dir, data_files, tmp_path):
    recipe = tiny_recipe(data_files, "dpo", train={"max_steps": 8, "learning_rate": 2e-2})
    _, out, info = train(recipe, tiny_model_dir, tmp_path)
    before, after = info["heldout"]["before"], info["heldout"]["after"]
    assert after["mean_logp_margin"] > before["mean_logp_margin"]
    assert after["reward_accuracy"]["value"] > 0.5 and after["reward_accuracy"]["n"] == 8
    assert info["merge"]["max_logit_difference"] < 1e-3


def test_qlora_falls_back_to_lora_when_widths_do_not_fit_4bit(tiny_model_dir, tmp_path):
    import shutil

    from evalkit.train.lora import qlora_blocker

    assert qlora_blocker(tiny_model_dir) == ""
    odd = tmp_path / "odd"
    shutil.copytree(tiny_model_dir, odd)
    config = json.loads((odd / "config.json").read_text())
    config["intermediate_size"] = 100
    (odd / "config.json").write_text(json.dumps(config))
    assert "intermediate_size" in qlora_blocker(odd)


def test_merge_check_compares_merged_and_unmerged_logits(tiny_model_dir, tmp_path, monkeypatch):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from evalkit.errors import ModelError
    from evalkit.train import lora

    torch.manual_seed(0)  # test scaffolding: a random non-zero adapter
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adapted = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    adapted.save_pretrained(tmp_path / "adapter")
    ids = [[1, 5, 9, 17, 33], [2, 8, 4]]
    merged, difference = lora.merge_adapter(tiny_model_dir, tmp_path / "adapter", ids)
    assert difference < 1e-3
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.inference_mode():
        gap = (merged(torch.tensor([ids[0]])).logits - plain(torch.tensor([ids[0]])).logits).abs().max()
    assert gap > 1e-3  # the adapter does change the model, so agreement above is not trivial
    monkeypatch.setattr(lora, "MERGE_TOLERANCE", 0.0)
    with pytest.raises(ModelError, match="merging the adapter changed the logits"):
        lora.merge_adapter(tiny_model_dir, tmp_path / "adapter", ids)


@pytest.mark.parametrize("stage", ["orpo", "reward"])
def test_orpo_and_reward_stages_train_and_save(tiny_model_dir, data_files, tmp_path, stage):
    recipe = tiny_recipe(data_files, stage, train={"max_steps": 3})
    _, out, info = train(recipe, tiny_model_dir, tmp_path)
    assert info["stage"] == stage and info["training"]["steps"] == 3
    assert info["merge"]["max_logit_difference"] < 1e-3
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == (["LlamaForSequenceClassification"] if stage == "reward" else ["LlamaForCausalLM"])
    after = info["heldout"]["after"]
    assert (after["reward_accuracy"] if stage == "reward" else after["likelihood_accuracy"])["n"] == 8
