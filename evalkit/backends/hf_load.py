"""Loading a model folder with transformers: dtype, device, optional 4-bit, optional PEFT adapter."""

from __future__ import annotations

import os
from pathlib import Path

from evalkit.backends.stacked import attach_stacked, stacked_adapters
from evalkit.config import ModelSpec
from evalkit.errors import ModelError


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if not torch.cuda.is_available():
        return "cpu"
    # one GPU per process under `accelerate launch` / torchrun, which set LOCAL_RANK
    return f"cuda:{os.environ['LOCAL_RANK']}" if "LOCAL_RANK" in os.environ else "cuda"


def quiet_transformers() -> None:
    """Turn off transformers' own tqdm bars ("Loading weights", hub downloads): they would draw between and
    over evalkit's progress, and a log gets a line per refresh. evalkit's own bars say what is happening."""
    import transformers

    transformers.utils.logging.disable_progress_bar()


def load_model_and_tokenizer(spec: ModelSpec, folder: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    device = pick_device(spec.device)
    dtype = "auto" if spec.dtype == "auto" else getattr(torch, spec.dtype)
    kwargs = {"dtype": dtype}
    if spec.quantization != "none":
        kwargs["quantization_config"] = quantization_config(spec.quantization, dtype)
        kwargs["device_map"] = {"": device}
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelError(f"model {spec.name!r}: cannot load {folder}: {str(err).splitlines()[0]}") from None
    if spec.quantization == "none":
        model.to(device)
    if stacked := stacked_adapters(folder):  # a stack recipe's base + adapters kept apart: backends/stacked.py
        model = attach_stacked(model, stacked)
        model = model.merge_and_unload() if spec.quantization == "none" else model  # exact in full precision
    if spec.adapter:
        model = attach_adapter(model, spec, Path(spec.adapter))
    model.eval()
    return model, tokenizer, device


def quantization_config(kind: str, compute_dtype):
    from transformers import BitsAndBytesConfig

    if kind == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute_dtype if compute_dtype != "auto" else None)
    return BitsAndBytesConfig(load_in_8bit=True)


def attach_adapter(model, spec: ModelSpec, adapter: Path):
    from peft import PeftModel

    if not (adapter / "adapter_config.json").exists():
        raise ModelError(f"model {spec.name!r}: {adapter} has no adapter_config.json; "
                         f"models.{spec.name}.adapter must be a PEFT adapter folder")
    model = PeftModel.from_pretrained(model, adapter)
    # Merging into full-precision weights is exact and faster to run; a 4-bit base stays unmerged
    # (merging LoRA into NF4 weights is lossy).
    return model.merge_and_unload() if spec.quantization == "none" else model
