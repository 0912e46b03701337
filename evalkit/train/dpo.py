"""Direct preference optimisation with TRL's DPOTrainer.

With LoRA the reference policy is the parent itself (the adapter switched off), so no
second copy of the model is loaded: the parent is what DPO must not drift far from.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe
from evalkit.train.recipe_rules import DPO_LOSSES
from evalkit.train.stages import TrainingStage, register


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks,
                  ref_model=None):
    """`ref_model`: a stack's reference (the parent's adapter on the base); None lets TRL switch the adapter off."""
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**common_arguments(recipe, checkpoints), beta=recipe.preference.beta,
                     loss_type=[recipe.preference.loss_type])
    return DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config, callbacks=callbacks)


def _rules(recipe) -> list[tuple[bool, str]]:
    loss = recipe.preference.loss_type
    return [(loss in DPO_LOSSES, f"preference.loss_type = {loss!r}; DPO takes one of {', '.join(DPO_LOSSES)}")]


STAGE = register(TrainingStage("dpo", "direct preference optimisation on chosen/rejected pairs", data="preference",
                               trainer=build_trainer, stackable=True, reference=True, rules=_rules))
