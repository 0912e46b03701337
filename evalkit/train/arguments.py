"""Recipe → the TrainingArguments every TRL config shares, and checkpoint discovery for resume."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from evalkit.train.recipe import Recipe

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _checkpointing_name() -> str:
    """transformers renamed `gradient_checkpointing` to `activation_checkpointing` after 5.19 (the old name
    warns, and goes in 6); vLLM's CPU build holds transformers below 5.20, so both are met."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def common_arguments(recipe: Recipe, checkpoints: Path) -> dict[str, Any]:
    import torch

    train = recipe.train
    on_gpu = torch.cuda.is_available()
    dtype = recipe.model.compute_dtype
    return {
        "output_dir": str(checkpoints),
        "per_device_train_batch_size": train.batch_size,
        "per_device_eval_batch_size": train.eval_batch_size,
        "gradient_accumulation_steps": train.gradient_accumulation,
        "learning_rate": train.learning_rate,
        "lr_scheduler_type": train.lr_scheduler,
        "warmup_steps": train.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the total steps
        "num_train_epochs": train.epochs,
        "max_steps": train.max_steps,
        "weight_decay": train.weight_decay,
        "seed": train.seed,
        "data_seed": train.seed,
        _checkpointing_name(): train.gradient_checkpointing,
        "max_length": train.max_length,
        "logging_steps": train.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": train.save_steps,
        "save_total_limit": 2,  # the latest checkpoint is all a resume needs; one more in case it was cut mid-write
        "eval_strategy": "no",  # held-out metrics are computed once before and once after, on the merged model
        "report_to": "none",
        "disable_tqdm": True,  # evalkit draws its own progress bar
        "use_cpu": not on_gpu,
        "bf16": dtype == "bfloat16",
        "fp16": dtype == "float16" and on_gpu,
        "dataloader_num_workers": 0,
        "remove_unused_columns": True,
    }


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint (its trainer_state.json is written last), or None."""
    if not checkpoints.is_dir():
        return None
    found = []
    for folder in checkpoints.iterdir():
        match = CHECKPOINT.match(folder.name)
        if match and (folder / "trainer_state.json").is_file():
            found.append((int(match.group(1)), folder))
    return max(found)[1] if found else None
