"""A reward model (TRL's RewardTrainer): the parent with a one-output score head, trained so that
chosen replies score above rejected ones (Bradley-Terry loss). Usable later as a judge."""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe
from evalkit.train.stages import TrainingStage, register


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    from trl import RewardConfig, RewardTrainer

    args = RewardConfig(**common_arguments(recipe, checkpoints))
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                            peft_config=peft_config, callbacks=callbacks)
    _score_head_in_compute_dtype(trainer.model, recipe.model.compute_dtype)
    return trainer


def _score_head_in_compute_dtype(model, dtype_name: str) -> None:
    """With a 4-bit parent TRL casts every trainable tensor to bfloat16 (the QLoRA paper's adapter dtype).
    LoRA layers cast their input to match, but the fully trained score head does not, so a float32
    hidden state would meet a bfloat16 head: keep the head in the compute dtype."""
    import torch

    dtype = getattr(torch, dtype_name)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad and "modules_to_save" in name and parameter.dtype != dtype:
            parameter.data = parameter.data.to(dtype)


STAGE = register(TrainingStage("reward", "a reward model that scores replies, usable as a judge", data="preference",
                               trainer=build_trainer, head="score"))
