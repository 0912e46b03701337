"""Odds-ratio preference optimisation (TRL's experimental ORPOTrainer): SFT and preference in one
loss, no reference model. Start it from a base or instruct model, not after DPO."""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe
from evalkit.train.stages import TrainingStage, register


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    import warnings

    with warnings.catch_warnings():  # importing trl.experimental warns that its API may change; we pin trl
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    args = ORPOConfig(**common_arguments(recipe, checkpoints), beta=recipe.preference.beta)
    return ORPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                       peft_config=peft_config, callbacks=callbacks)


STAGE = register(TrainingStage("orpo", "odds-ratio preference optimisation, no reference model (TRL experimental)",
                               data="preference", trainer=build_trainer, stackable=True))
