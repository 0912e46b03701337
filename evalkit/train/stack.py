"""stage = "stack": a new LoRA adapter trained on top of the parent's own adapter (SFT, then DPO on it).

The parent is a recipe model that kept its adapter (trained folders keep it in `adapter/`). Training loads
the parent's base (4-bit for QLoRA), attaches the parent's adapter frozen, adds a fresh trainable adapter
and trains it with both active (PEFT multi-adapter; DPO's reference is the parent as saved, so the policy
is held near the parent, not the base). The result is kept as two adapters on the base (stack.keep =
"adapters": backends/stacked.py loads it) or both merged in sequence into a fresh full-precision base
("merged"); either way merged and unmerged logits are compared before it is saved.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from evalkit.backends.stacked import ADAPTERS, attach_stacked, write_manifest
from evalkit.errors import ConfigError, ModelError
from evalkit.train.lora import MERGE_TOLERANCE, LoadedForTraining, load_for_training, lora_config
from evalkit.train.recipe import Recipe
from evalkit.train.stages import StageInputs, TrainingStage, register, stackable

KEPT_ADAPTER = "adapter"  # where a trained LoRA folder keeps its adapter, for a stack to build on
PARENT_PROVENANCE = "evalkit_training.json"
SKIP_WHEN_COPYING = {PARENT_PROVENANCE, "loss_curve.png", KEPT_ADAPTER}
KEEPS = ("adapters", "merged")


@dataclass(frozen=True)
class StackInputs:
    base_name: str
    base_folder: Path
    lower: Path  # the parent's adapter
    lower_name: str
    top_name: str

    def describe(self, keep: str) -> dict:
        return {"base": self.base_name, "adapters": [self.lower_name, self.top_name], "keep": keep}


def stack_inputs(config, recipe: Recipe, parent_name: str, parent, store, prepare) -> StackInputs:
    """The base and the parent's adapter a stack trains on, or one line naming what is missing."""
    where = f"{recipe.path}: stage = \"stack\""
    lower = Path(parent.folder) / KEPT_ADAPTER
    if not (lower / "adapter_config.json").is_file():
        raise ConfigError(f"{where} trains on the parent's LoRA adapter, but {parent_name!r} keeps none in "
                          f"{lower} (built by full fine-tuning, a merge, or before adapters were kept); make the "
                          f"parent a LoRA recipe model, or delete {parent.folder} so it is rebuilt with its adapter")
    if prepare is None or config is None:
        raise ConfigError(f"{where} reads the parent's base from evalkit.toml; build it through a config model")
    base_name = config.model(parent_name).parent
    if not base_name:
        raise ConfigError(f"{where}: parent {parent_name!r} has no parent of its own in {config.path}, so the base "
                          f"its adapter belongs to is unknown; set models.{parent_name}.parent")
    base = prepare(config, base_name, store)
    built_on = json.loads((Path(parent.folder) / PARENT_PROVENANCE).read_text(encoding="utf-8"))["parent"]
    if built_on["fingerprint"] != base.fingerprint:
        raise ConfigError(f"{where}: {parent_name!r}'s adapter was trained on another {base_name!r} (fingerprint "
                          f"{built_on['fingerprint']}, now {base.fingerprint}); rebuild {parent_name!r} first")
    top = recipe.path.stem if recipe.path.stem != parent_name else f"{recipe.path.stem}_top"
    return StackInputs(base_name, Path(base.folder), lower, parent_name, top)


def _freeze_lower(model, inputs: StackInputs) -> None:
    """Both adapters active, only the top one trained; the frozen one runs without its training dropout."""
    import torch

    model.base_model.set_adapter([inputs.top_name, inputs.lower_name])  # the Trainer resumes the first as trainable
    model.set_requires_grad(inputs.lower_name, False)
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if dropouts is not None and inputs.lower_name in dropouts:
            dropouts[inputs.lower_name] = torch.nn.Identity()


def load_for_stacking(inputs: StackInputs, recipe: Recipe) -> LoadedForTraining:
    """The base (per model.method) with the parent's adapter frozen and a fresh trainable one, both active."""
    import torch
    from peft import PeftModel

    loaded = load_for_training(inputs.base_folder, recipe)
    model = PeftModel.from_pretrained(loaded.model, inputs.lower, adapter_name=inputs.lower_name)
    layers = model.config.get_text_config().num_hidden_layers
    with torch.random.fork_rng(devices=[]):  # the new adapter's random init from train.seed, the global RNG untouched
        torch.manual_seed(recipe.train.seed)
        model.add_adapter(inputs.top_name, lora_config(recipe, layers))
    _freeze_lower(model, inputs)
    return LoadedForTraining(model, loaded.method, loaded.note)


def keep_both_active(inputs: StackInputs):
    """A Trainer callback: resuming a checkpoint, transformers reloads each adapter and then activates only
    the trainable one (Trainer._load_from_checkpoint), which would train the rest without the parent's
    adapter; at the start of training both are made active again, the parent's frozen."""
    from transformers import TrainerCallback

    class KeepBothActive(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            _freeze_lower(model, inputs)

    return KeepBothActive()


def reference_model(parent_folder: Path, recipe: Recipe):
    """DPO's reference: the parent itself (its adapter merged into its weights, as it was saved), loaded as
    the policy's base is. TRL's default, the adapters switched off, would be the bare base; a PEFT-wrapped
    reference cannot take TRL's fused log-prob head. With QLoRA the reference is the parent quantised."""
    return load_for_training(parent_folder, recipe).model.eval()


def save_adapters(trainer, inputs: StackInputs, work: Path) -> list[Path]:
    """Both adapters side by side under work/adapters/ (PEFT writes a named adapter into a subfolder)."""
    folder = work / ADAPTERS
    shutil.rmtree(folder, ignore_errors=True)
    trainer.model.save_pretrained(str(folder), selected_adapters=[inputs.top_name])
    shutil.copytree(inputs.lower, folder / inputs.lower_name)
    return [folder / inputs.lower_name, folder / inputs.top_name]


def final_models(inputs: StackInputs, adapters: list[Path], keep: str, batch):
    """(model to measure, model to save or None, max |merged - unmerged| logit difference) on a fresh
    full-precision base: with keep = "adapters" the unmerged stack is measured and the base files saved."""
    import torch
    from transformers import AutoModelForCausalLM

    stacked = attach_stacked(AutoModelForCausalLM.from_pretrained(inputs.base_folder, dtype=torch.float32),
                             adapters).eval()
    with torch.inference_mode():
        unmerged = stacked(**batch).logits
        if keep == "adapters":
            check = attach_stacked(AutoModelForCausalLM.from_pretrained(inputs.base_folder, dtype=torch.float32),
                                   adapters).merge_and_unload().eval()
        else:
            check = stacked = stacked.merge_and_unload().eval()
        merged = check(**batch).logits
    difference = float((merged - unmerged).abs()[batch["attention_mask"].bool()].max())
    if not difference < MERGE_TOLERANCE:
        raise ModelError(f"merging the stacked adapters changed the logits by {difference:.2e} (limit "
                         f"{MERGE_TOLERANCE}); nothing is saved. Report this with the recipe.")
    return stacked, (None if keep == "adapters" else stacked), difference


def write_stacked_folder(out: Path, inputs: StackInputs, adapters: list[Path]) -> None:
    """keep = "adapters": the base's own files unchanged, the adapters in adapters/NAME, their order listed."""
    for item in inputs.base_folder.iterdir():
        if item.is_file() and item.name not in SKIP_WHEN_COPYING:
            shutil.copy2(item, out / item.name)
    for adapter in adapters:
        shutil.copytree(adapter, out / ADAPTERS / adapter.name)
    write_manifest(out, [a.name for a in adapters], f"{inputs.top_name} trained on top of {inputs.lower_name}, "
                                                    f"both active on {inputs.base_name}")


def _inputs(config, recipe: Recipe, parent_name: str, parent, store, prepare, quiet: bool) -> StageInputs:
    return StageInputs(stack=stack_inputs(config, recipe, parent_name, parent, store, prepare))


def _rules(recipe: Recipe) -> list[tuple[bool, str]]:
    settings, tops = recipe.stack, stackable()
    return [
        (settings.stage in tops, f"stack.stage = {settings.stage!r}; the top adapter trains one of {', '.join(tops)}"),
        (settings.keep in KEEPS, (f"stack.keep = {settings.keep!r}; use adapters (both adapters kept, both "
                                  f"active) or merged (both merged in sequence into the base)")),
        (recipe.model.method != "full", "model.method = 'full' trains no adapter to stack; use lora or qlora"),
    ]


STAGE = register(TrainingStage("stack", "a second adapter (e.g. DPO) trained on top of the parent's own adapter "
                               "(e.g. SFT)", runs_as=lambda recipe: recipe.stack.stage, inputs=_inputs,
                               rules=_rules))
