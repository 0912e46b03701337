"""Continued pretraining: next-token loss on every token of plain documents, packed into full-length rows.

TRL's SFTTrainer does this for a `text` column: documents are tokenised, concatenated and cut into
`train.max_length` rows ("wrapped" packing, the classic language-modelling layout), so no step is spent
on padding. "wrapped" rather than TRL's default best-fit packing because that one relies on
position-id-aware attention kernels (flash attention) to keep packed documents apart.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.train.arguments import common_arguments
from evalkit.train.recipe import Recipe
from evalkit.train.stages import TrainingStage, register


def build_trainer(model, tokenizer, dataset, recipe: Recipe, checkpoints: Path, peft_config, callbacks):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**common_arguments(recipe, checkpoints), dataset_text_field="text", packing=True,
                     packing_strategy="wrapped", assistant_only_loss=False, completion_only_loss=False)
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                      peft_config=peft_config, callbacks=callbacks)


STAGE = register(TrainingStage("pretrain", "continued pretraining on plain documents (next-token loss, packed rows)",
                               data="text", trainer=build_trainer))
