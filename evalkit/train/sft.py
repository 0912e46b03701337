"""Supervised fine-tuning with TRL's SFTTrainer: chat examples, loss on the assistant turns only
(or, with train.prompt_loss_weight > 0, the prompt's tokens weighted lower: prompt_weight.py)."""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe
from evalkit.train.stages import TrainingStage, register


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    from trl import SFTConfig, SFTTrainer

    if recipe.train.assistant_only_loss and recipe.train.prompt_loss_weight > 0:
        from evalkit.train import prompt_weight  # imports TRL: registering the stage must stay cheap

        return prompt_weight.build_trainer(model, tokenizer, dataset, recipe, checkpoints, peft_config, callbacks)
    # assistant_only_loss reads the {% generation %} markers of the tokenizer's chat template,
    # which the pipeline has set to the marked training template.
    args = SFTConfig(**common_arguments(recipe, checkpoints), assistant_only_loss=recipe.train.assistant_only_loss,
                     packing=False)
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config, callbacks=callbacks)


STAGE = register(TrainingStage("sft", "supervised fine-tuning on chat / instruction data", data="chat",
                               trainer=build_trainer, stackable=True))
