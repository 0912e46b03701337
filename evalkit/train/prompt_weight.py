"""SFT with the prompt's tokens weighted lower than the reply's in the loss (`train.prompt_loss_weight`).

0 is assistant-only loss (TRL's own path, in sft.py); 1 trains on every token alike. In between,
each token's negative log-likelihood is weighted 1 (assistant reply and its end-of-turn token,
as marked by the chat template's {% generation %} blocks) or `prompt_loss_weight` (system and
user turns, role headers), and the loss is the weighted mean over the batch:

    loss = sum(w_t * nll_t) / sum(w_t)

so 1 is exactly the plain mean over all tokens. TRL has no per-token weights, so the examples
are tokenised here with the same chat template TRL would use, and `compute_loss` reads the
weights the collator pads alongside the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from evalkit.errors import DataError
from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe


def token_weights(assistant_mask: list[int], prompt_weight: float) -> list[float]:
    """1.0 on the assistant tokens, `prompt_weight` on every other token of the conversation."""
    return [1.0 if marked else prompt_weight for marked in assistant_mask]


def weighted_rows(tokenizer, conversations: list[list[dict]], max_length: int, prompt_weight: float) -> list[dict]:
    """Tokenised training rows: input_ids, labels (every token) and loss_weights, cut at max_length."""
    rows = []
    for number, messages in enumerate(conversations):
        encoded = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
        ids, mask = list(encoded["input_ids"])[:max_length], list(encoded["assistant_masks"])[:max_length]
        if 1 not in mask:
            raise DataError(f"training example {number + 1}: no assistant token within train.max_length = "
                            f"{max_length} (or the chat template has no {{% generation %}} markers); "
                            f"raise train.max_length or set model.chat_template to a marked template")
        rows.append({"input_ids": ids, "labels": list(ids), "loss_weights": token_weights(mask, prompt_weight)})
    return rows


def weighted_nll(logits, labels, weights):
    """Weighted mean next-token NLL; positions whose label is -100 (padding) weigh nothing."""
    logits, labels, weights = logits[:, :-1].float(), labels[:, 1:], weights[:, 1:].float()
    weights = weights * (labels != -100)
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.clamp(min=0).reshape(-1),
                                            reduction="none").view_as(weights)
    return (nll * weights).sum() / weights.sum().clamp(min=1e-8)


@dataclass
class WeightedCollator:
    """TRL's language-modelling collator (padding, attention mask), plus the weights padded with 0."""

    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = DataCollatorForLanguageModeling(pad_token_id=self.pad_token_id)(
            [{"input_ids": e["input_ids"], "labels": e["labels"]} for e in examples])
        width = batch["input_ids"].shape[1]
        weights = torch.zeros((len(examples), width))
        for i, example in enumerate(examples):
            weights[i, : len(example["loss_weights"])] = torch.tensor(example["loss_weights"])
        batch["loss_weights"] = weights
        return batch


class PromptWeightedSFTTrainer(SFTTrainer):
    # the loss is a per-micro-batch mean, so the Trainer must still divide it over accumulation steps
    loss_is_scaled_for_ga = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights, labels = inputs.pop("loss_weights"), inputs.pop("labels")
        outputs = model(**inputs, use_cache=False)
        loss = weighted_nll(outputs.logits, labels, weights)
        return (loss, outputs) if return_outputs else loss


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    from datasets import Dataset

    weight = recipe.train.prompt_loss_weight
    rows = weighted_rows(tokenizer, list(dataset["messages"]), recipe.train.max_length, weight)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    arguments = {**common_arguments(recipe, checkpoints), "remove_unused_columns": False}  # keep loss_weights
    args = SFTConfig(**arguments, packing=False, dataset_kwargs={"skip_prepare_dataset": True})
    return PromptWeightedSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                    processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks,
                                    data_collator=WeightedCollator(pad))
