"""The model side of training: load the parent for QLoRA / LoRA / full fine-tuning, and merge afterwards.

QLoRA loads the parent in 4-bit NF4 with double quantisation (bitsandbytes) and trains
LoRA adapters in the compute dtype. The adapter is then merged into a *freshly loaded
full-precision* parent: merging into the 4-bit weights is lossy, and on bitsandbytes'
CPU path a 4-bit model that has run an eval forward merges into wrong weights. Before
saving, merged and unmerged logits must agree (max |difference| < 1e-3) or the build stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.backends.threads import follow_free_cores
from evalkit.errors import ModelError
from evalkit.train.recipe import Recipe

MERGE_TOLERANCE = 1e-3
QUANT_WIDTH = 32  # bitsandbytes' 4-bit kernels need each quantised Linear's out_features to be a multiple of this


@dataclass(frozen=True)
class LoadedForTraining:
    model: object
    method: str  # what actually ran: qlora, lora or full
    note: str  # why it differs from the recipe, if it does


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def qlora_blocker(folder: Path) -> str:
    """Why 4-bit training cannot run here ("" when it can)."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception as err:  # not installed, or no backend for this machine
        return f"bitsandbytes unavailable ({type(err).__name__}: {err})"
    import json

    config = json.loads((folder / "config.json").read_text())
    widths = {k: config.get(k) for k in ("hidden_size", "intermediate_size") if config.get(k)}
    heads, kv = config.get("num_attention_heads"), config.get("num_key_value_heads") or config.get("num_attention_heads")
    if heads and widths.get("hidden_size"):
        widths["kv_width"] = widths["hidden_size"] // heads * kv
    bad = {k: v for k, v in widths.items() if v % QUANT_WIDTH}
    return f"4-bit layers need widths divisible by {QUANT_WIDTH}, got {bad}" if bad else ""


def load_for_training(folder: Path, recipe: Recipe, model_class=None) -> LoadedForTraining:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    model_class = model_class or AutoModelForCausalLM.from_pretrained

    method, note = recipe.model.method, ""
    dtype = torch_dtype(recipe.model.compute_dtype)
    if method == "qlora" and (blocker := qlora_blocker(folder)):
        method, note = "lora", f"qlora requested but {blocker}; trained plain LoRA on full-precision weights"
    kwargs: dict = {"dtype": dtype}
    if method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype)
        kwargs["device_map"] = {"": _device()}
    try:
        model = model_class(folder, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load parent model {folder} for training: {str(err).splitlines()[0]}") from None
    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=recipe.train.gradient_checkpointing)
    if _device() == "cpu":  # a training step beside busy processes slows as a decode step does (threads.py)
        follow_free_cores(model)
    return LoadedForTraining(model, method, note)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def lora_config(recipe: Recipe, n_layers: int, task_type: str = "CAUSAL_LM"):
    from peft import LoraConfig

    settings = recipe.lora
    targets = settings.target_modules if isinstance(settings.target_modules, str) else list(settings.target_modules)
    layers = list(range(max(0, n_layers - settings.layers), n_layers)) if settings.layers else None
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets,
                      layers_to_transform=layers, bias="none", task_type=task_type)


def merge_adapter(parent: Path, adapter: Path, check_ids: list[list[int]], model_class=None):
    """A fresh full-precision parent with the adapter merged in, and the max logit difference merged vs unmerged."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model_class = model_class or AutoModelForCausalLM.from_pretrained
    base = model_class(parent, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter).eval()
    batch = pad_ids(check_ids)
    with torch.inference_mode():
        unmerged = model(**batch).logits
        merged_model = model.merge_and_unload().eval()
        merged = merged_model(**batch).logits
    gap = (merged - unmerged).abs()
    if gap.dim() == 3:  # token logits: compare real tokens only (a score head has one value per sequence)
        gap = gap[batch["attention_mask"].bool()]
    difference = float(gap.max())
    if not difference < MERGE_TOLERANCE:
        raise ModelError(f"merging the adapter changed the logits by {difference:.2e} (limit {MERGE_TOLERANCE}); "
                         f"the merged model in {adapter} is not saved. Report this with the recipe.")
    return merged_model, difference


def pad_ids(rows: list[list[int]]):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}
