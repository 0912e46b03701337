"""Helpers for training tests: small data in every format and few-step recipes on the tiny model."""

import json
from pathlib import Path

from evalkit.train.recipe import Recipe, recipe_from_dict

SFT_ROWS = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": f"The answer is {2 * i}."}]} for i in range(48)]
PREFERENCE_ROWS = [{"prompt": f"What is {i} plus {i}?", "chosen": f"The answer is {2 * i}.",
                    "rejected": f"I think it is {2 * i + 3}, maybe."} for i in range(48)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_recipe(folder: Path, stage: str = "sft", **sections) -> Recipe:
    """A few-step recipe on the tiny model; `sections` override whole tables' keys, e.g. train={"max_steps": 4}."""
    raw = {"stage": stage,
           "data": {"sources": [{"kind": "file", "path": "sft.jsonl" if stage == "sft" else "pref.jsonl"}],
                    "heldout": 8},
           "model": {"method": "qlora"},
           "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
           "train": {"learning_rate": 5e-3, "batch_size": 4, "max_steps": 6, "save_steps": 3, "max_length": 64,
                     "eval_batch_size": 8}}
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return recipe_from_dict(raw, folder / f"{stage}.toml")


