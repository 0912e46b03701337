"""Supervised fine-tuning with TRL's SFTTrainer: chat examples, loss on the assistant turns only."""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    from trl import SFTConfig, SFTTrainer

    # assistant_only_loss reads the {% generation %} markers of the tokenizer's chat template,
    # which the pipeline has set to the marked training template.
    args = SFTConfig(**common_arguments(recipe, checkpoints), assistant_only_loss=recipe.train.assistant_only_loss,
                     packing=False)
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config, callbacks=callbacks)
