"""A reward model (TRL's RewardTrainer): the parent with a one-output score head, trained so that
chosen replies score above rejected ones (Bradley-Terry loss). Usable later as a judge."""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    from trl import RewardConfig, RewardTrainer

    args = RewardConfig(**common_arguments(recipe, checkpoints))
    return RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks)
