"""What PEFT, TRL and transformers would reject in a recipe, checked when the recipe is read.

Their own checks run only when the trainer is built, after the parent model has loaded and the
held-out rows have been measured; a recipe that cannot train should cost seconds, not minutes.
Each rule names the recipe key. The value lists mirror the pinned libraries (tests compare them).
"""

from __future__ import annotations

from pathlib import Path

from evalkit.train.stages import STAGES, trainer_stage

# transformers.trainer_utils.SchedulerType
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                 "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
                 "warmup_stable_decay", "greedy")
# trl.DPOConfig.loss_type, as TRL 1.x documents it
DPO_LOSSES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
              "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")


def problems(recipe) -> list[str]:
    """Each rule the recipe breaks, as `key = value; fix` (empty when it can train): the rules of every
    trainer, then the recipe's own stage's, then those of the stage whose trainer it runs (a stack's DPO)."""
    own = STAGES[recipe.stage]
    if not own.trains:
        return []
    found = [message for ok, message in _rules(recipe) + own.rules(recipe) if not ok]
    if own.runs_as and not found:  # a stack naming an unknown top stage has said so above
        runs = trainer_stage(recipe)
        found += [message for ok, message in runs.rules(recipe) if not ok and runs is not own]
    return found


def _rules(recipe) -> list[tuple[bool, str]]:
    train, lora = recipe.train, recipe.lora
    return [
        (train.max_steps == -1 or train.max_steps >= 1,
         f"train.max_steps = {train.max_steps}; use a positive number of steps, or -1 to train for train.epochs"),
        (train.max_steps != -1 or train.epochs > 0,
         (f"train.epochs = {train.epochs:g} trains nothing (the model would be saved untrained); use a positive "
         f"number of epochs or set train.max_steps")),
        (train.lr_scheduler in LR_SCHEDULERS,
         f"train.lr_scheduler = {train.lr_scheduler!r}; choose one of {', '.join(LR_SCHEDULERS)}"),
        (train.weight_decay >= 0, f"train.weight_decay = {train.weight_decay:g} must be 0 or more"),
        (min(train.logging_steps, train.save_steps, train.eval_batch_size) >= 1,
         "train.logging_steps, train.save_steps and train.eval_batch_size must be at least 1"),
        (lora.alpha >= 1, f"lora.alpha = {lora.alpha} must be at least 1"),
        (lora.layers >= 0, f"lora.layers = {lora.layers}; use 0 (every layer) or the number of top layers to adapt"),
        # PEFT: "`layers_to_transform` cannot be used when `target_modules` is a str"
        (not (lora.layers and isinstance(lora.target_modules, str)),
         (f"lora.layers = {lora.layers} needs lora.target_modules as a list of module names (PEFT cannot restrict "
         f"{lora.target_modules!r} to some layers), e.g. target_modules = [\"q_proj\", \"k_proj\", \"v_proj\", "
         f"\"o_proj\"]; or set lora.layers = 0")),
        (bool(lora.target_modules), "lora.target_modules is empty; use \"all-linear\" or a list of module names"),
        _chat_template(recipe),
    ]


def _chat_template(recipe) -> tuple[bool, str]:
    setting = recipe.model.chat_template
    if setting == "auto":
        return True, ""
    path = Path(setting) if Path(setting).is_absolute() else recipe.path.parent / setting
    return path.is_file(), (f"model.chat_template = {setting!r}: no such file {path}; use \"auto\" (the parent's "
                            f"template) or a .jinja file with {{% generation %}} markers")
