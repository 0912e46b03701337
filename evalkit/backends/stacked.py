"""A model folder that keeps its LoRA adapters apart instead of merged: the base's own files, each adapter
in adapters/NAME/, and their order in evalkit_adapters.json (a stack recipe with keep = "adapters" writes it).

PEFT loads such a folder as a multi-adapter model with every adapter active at once, so the outputs are the
base plus the sum of the adapters' updates (the same function as merging them in sequence, up to rounding).
"""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.errors import ModelError

MANIFEST = "evalkit_adapters.json"
ADAPTERS = "adapters"
# what changes a stacked folder's outputs, for its fingerprint (models.sources.folder_hash)
FINGERPRINT_PATTERNS = (MANIFEST, f"{ADAPTERS}/*/adapter_model.safetensors", f"{ADAPTERS}/*/adapter_config.json")


def stacked_adapters(folder: Path | str | None) -> list[Path]:
    """The adapter folders of a stacked model, in order; [] for any other folder."""
    if folder is None or not (Path(folder) / MANIFEST).is_file():
        return []
    names = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))["adapters"]
    adapters = [Path(folder) / ADAPTERS / name for name in names]
    missing = [str(a) for a in adapters if not (a / "adapter_config.json").is_file()]
    if missing:
        raise ModelError(f"{Path(folder) / MANIFEST} lists adapter {missing[0]} that has no adapter_config.json; "
                         f"delete {folder} so the stack recipe builds it again")
    return adapters


def attach_stacked(model, adapters: list[Path]):
    """`model` (the base) as a PeftModel with every adapter loaded and active together, frozen."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, adapters[0], adapter_name=adapters[0].name)
    for adapter in adapters[1:]:
        model.load_adapter(adapter, adapter_name=adapter.name)
    # PeftModel.set_adapter takes one name; the LoRA tuner underneath activates several at once
    model.base_model.set_adapter([a.name for a in adapters], inference_mode=True)
    return model


def write_manifest(folder: Path, names: list[str], note: str) -> None:
    (folder / MANIFEST).write_text(json.dumps({"adapters": names, "note": note}, indent=2), encoding="utf-8")
