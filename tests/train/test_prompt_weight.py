"""train.prompt_loss_weight: per-token weights on a marked chat example, the weighted loss against
transformers' own loss at 0 and 1, and short runs whose loss covers the prompt or not accordingly."""

import re

import pytest
from train_helpers import tiny_recipe

from evalkit.errors import ConfigError

CONVERSATION = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2 plus 2?"},
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "And 3 plus 3?"},
                {"role": "assistant", "content": "The answer is 6."}]


def test_weights_are_one_on_assistant_replies_and_the_prompt_weight_elsewhere(tiny_model_dir):
    from transformers import AutoTokenizer

    from evalkit.train.prompt_weight import weighted_rows

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    [row] = weighted_rows(tokenizer, [CONVERSATION], 256, 0.1)
    ids, weights = row["input_ids"], row["loss_weights"]
    assert row["labels"] == ids and len(weights) == len(ids)
    assert set(weights) == {1.0, 0.1}
    # the full-weight tokens are exactly the two replies, each with its end-of-turn token
    full = tokenizer.decode([t for t, w in zip(ids, weights) if w == 1.0])
    assert full == "4<|im_end|>The answer is 6.<|im_end|>"
    prompt = tokenizer.decode([t for t, w in zip(ids, weights) if w == 0.1])
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>") and "And 3 plus 3?" in prompt
    assert prompt.count("<|im_start|>assistant\n") == 2  # role headers are prompt, not reply


def test_weighted_loss_is_transformers_loss_at_zero_and_one(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.train.prompt_weight import WeightedCollator, weighted_nll, weighted_rows

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    conversations = [CONVERSATION, CONVERSATION[1:3]]  # two lengths, so one row is padded
    losses = {}
    for weight in (0.0, 0.5, 1.0):
        batch = WeightedCollator(tokenizer.pad_token_id)(weighted_rows(tokenizer, conversations, 256, weight))
        with torch.inference_mode():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            losses[weight] = float(weighted_nll(logits, batch["labels"], batch["loss_weights"]))
        masked = batch["labels"].clone()
        if weight == 0.0:
            masked[batch["loss_weights"] == 0] = -100  # assistant-only, as TRL labels it
        if weight in (0.0, 1.0):
            with torch.inference_mode():
                reference = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                  labels=masked).loss
            assert losses[weight] == pytest.approx(float(reference), abs=1e-5)
    assert min(losses[0.0], losses[1.0]) <= losses[0.5] <= max(losses[0.0], losses[1.0])


def prompt_nll(folder, tokenizer, conversations):
    """Mean NLL of the non-assistant tokens: what only a prompt weight above 0 trains."""
    import torch
    from transformers import AutoModelForCausalLM

    from evalkit.train.prompt_weight import WeightedCollator, weighted_rows

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    batch = WeightedCollator(tokenizer.pad_token_id)(weighted_rows(tokenizer, conversations, 64, 0.0))
    labels = batch["labels"].clone()
    labels[batch["loss_weights"] > 0] = -100
    with torch.inference_mode():
        return float(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss)


def test_a_short_run_trains_the_prompt_only_when_it_has_weight(tiny_model_dir, data_files, tmp_path):
    from transformers import AutoTokenizer

    from evalkit.train.data import load_examples
    from evalkit.train.pipeline import make_plan, run_stage

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    results = {}
    for weight in (0.0, 1.0):
        recipe = tiny_recipe(data_files, "sft", model={"method": "lora"},
                             train={"max_steps": 6, "learning_rate": 1e-2, "prompt_loss_weight": weight})
        plan = make_plan(recipe, "tiny", tiny_model_dir, "fp")
        out = tmp_path / f"w{weight}"
        info = run_stage(plan, out, tmp_path / f"work{weight}", quiet=True)
        assert info["recipe"]["settings"]["train"]["prompt_loss_weight"] == weight
        losses = [h["loss"] for h in info["training"]["log_history"] if "loss" in h]
        results[weight] = (plan.key, losses, out)
    held_out = [e.data["messages"] for e in load_examples(tiny_recipe(data_files, "sft"), data_files).items[:8]]
    untrained = prompt_nll(tiny_model_dir, tokenizer, held_out)
    only_reply, everything = (prompt_nll(results[w][2], tokenizer, held_out) for w in (0.0, 1.0))
    # full weight learns the prompts' tokens; assistant-only loss leaves them far less changed
    # measured: 6.10 untrained, 5.99 after assistant-only loss, 5.67 after full-weight loss (nats per token)
    assert everything < only_reply - 0.2 < untrained - 0.2
    assert results[0.0][0] != results[1.0][0]  # another weight is another model
    assert results[0.0][1][0] != pytest.approx(results[1.0][1][0], abs=1e-3)  # the first step's loss covers other tokens


def test_the_default_weight_keeps_the_content_key_of_earlier_builds(data_files):
    recipe = tiny_recipe(data_files, "sft")
    hashed = recipe.hashed_settings()
    assert "prompt_loss_weight" not in hashed["train"] and "merge" not in hashed
    assert tiny_recipe(data_files, "sft", train={"prompt_loss_weight": 0.1}).hashed_settings()["train"][
        "prompt_loss_weight"] == 0.1


@pytest.mark.parametrize("train, message", [
    ({"prompt_loss_weight": 1.5}, "train.prompt_loss_weight = 1.5; use a weight between 0"),
    ({"prompt_loss_weight": -0.1}, "train.prompt_loss_weight = -0.1; use a weight between 0"),
    ({"prompt_loss_weight": 0.1, "assistant_only_loss": False},
     "train.prompt_loss_weight = 0.1 needs train.assistant_only_loss = true"),
])
def test_a_weight_outside_zero_to_one_names_the_recipe_and_key(data_files, train, message):
    with pytest.raises(ConfigError, match=r"sft\.toml: " + re.escape(message)):
        tiny_recipe(data_files, "sft", train=train)
