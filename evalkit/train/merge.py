"""stage = "merge": config models combined into one by mergekit, built on demand and cached like a trained model.

Methods: linear (weighted average), task_arithmetic, ties, dare_ties, dare_linear (task vectors against the
config model's `parent` as the base), slerp (two models, `t` between them) and passthrough (layer ranges of
several models stacked into a deeper one). The tensor arithmetic is mergekit's; evalkit checks the inputs
first (one architecture, one vocabulary, layer ranges in bounds) and names the recipe key when they do not
fit, then loads the result with transformers and records its logits' distance to every input.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError, ModelError
from evalkit.models.sources import staged_folder
from evalkit.store.provenance import environment, package_versions
from evalkit.train.recipe import Recipe
from evalkit.train.stages import TrainingStage, register
from evalkit.types import stable_hash

PROVENANCE = "evalkit_training.json"  # the same file a trained model carries, so the store records both alike
MERGE_VERSION = 1  # bump when a change here changes what a merge recipe produces
TASK_VECTOR_METHODS = ("task_arithmetic", "ties", "dare_ties", "dare_linear")  # deltas against the parent
METHODS = ("linear", "slerp", "passthrough", *TASK_VECTOR_METHODS)
MODEL_KEYS = {"model", "weight", "density"}
SLICE_KEYS = {"model", "layers"}
SHARED_CONFIG = ("model_type", "hidden_size", "vocab_size", "num_attention_heads", "num_key_value_heads")


def _entries(recipe: Recipe) -> tuple[str, tuple[dict[str, Any], ...], set[str]]:
    merge = recipe.merge
    return ("merge.slices", merge.slices, SLICE_KEYS) if merge.method == "passthrough" else (
        "merge.models", merge.models, MODEL_KEYS)


def check_recipe(recipe: Recipe) -> None:
    """The merge settings on their own: method, the list of inputs and their keys, before any model is read."""
    merge, path = recipe.merge, recipe.path
    if merge.method not in METHODS:
        raise ConfigError(f"{path}: merge.method = {merge.method!r}; choose one of {', '.join(METHODS)}")
    where, entries, allowed = _entries(recipe)
    if not entries:
        raise ConfigError(f"{path}: {where} is empty; name the config models to merge, e.g. "
                          + ('slices = [{ model = "sft", layers = [0, 16] }, ...]' if where == "merge.slices" else
                             'models = [{ model = "sft", weight = 0.5 }, { model = "dpo", weight = 0.5 }]'))
    for i, entry in enumerate(entries):
        unknown = sorted(set(entry) - allowed)
        if unknown or not isinstance(entry.get("model"), str):
            raise ConfigError(f"{path}: {where}[{i}] needs `model` (a config model name) and only "
                              f"{', '.join(sorted(allowed))}; got {sorted(entry)}")
        for key in ("weight", "density"):
            if key in entry and (not isinstance(entry[key], (int, float)) or isinstance(entry[key], bool)):
                raise ConfigError(f"{path}: {where}[{i}].{key} = {entry[key]!r} should be a number")
        if not 0 < entry.get("density", 1.0) <= 1:
            raise ConfigError(f"{path}: {where}[{i}].density = {entry['density']}; keep 0 < density <= 1")
        layers = entry.get("layers", [0, 1])
        if not (isinstance(layers, (list, tuple)) and len(layers) == 2 and all(type(v) is int for v in layers)):
            raise ConfigError(f"{path}: {where}[{i}].layers = {layers!r}; give [start, end], end exclusive")
    if merge.method == "slerp" and len(entries) != 2:
        raise ConfigError(f"{path}: merge.method = 'slerp' interpolates exactly two models; merge.models has "
                          f"{len(entries)}")
    if not 0 <= merge.t <= 1:
        raise ConfigError(f"{path}: merge.t = {merge.t}; use 0 (first model) to 1 (second model)")


def input_names(recipe: Recipe) -> list[str]:
    """The config models a merge reads, in order, each once."""
    return list(dict.fromkeys(entry["model"] for entry in _entries(recipe)[1]))


def _config(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))


def _vocabulary(folder: Path) -> str:
    from transformers import AutoTokenizer

    return stable_hash(sorted(AutoTokenizer.from_pretrained(folder).get_vocab().items()))


def check_inputs(recipe: Recipe, folders: dict[str, Path]) -> None:
    """One architecture and one vocabulary across the inputs (and the parent), and layer ranges in bounds."""
    where, entries, _ = _entries(recipe)
    names = list(folders)
    first, reference = names[0], _config(folders[names[0]])
    vocabulary = _vocabulary(folders[first])
    for name in names[1:]:
        config = _config(folders[name])
        for key in ("architectures", *SHARED_CONFIG, *(("num_hidden_layers",) if where == "merge.models" else ())):
            if config.get(key) != reference.get(key):
                raise ConfigError(f"{recipe.path}: {where}: {name!r} has {key} = {config.get(key)!r} but {first!r} "
                                  f"has {reference.get(key)!r}; merge models of one architecture (fine-tunes of "
                                  f"the same base)")
        if _vocabulary(folders[name]) != vocabulary:
            raise ConfigError(f"{recipe.path}: {where}: {name!r} and {first!r} have different tokenizer "
                              f"vocabularies, so their embedding rows mean different tokens; merge models that "
                              f"share one tokenizer")
    for i, entry in enumerate(entries):
        if "layers" not in entry:
            continue
        start, end = entry["layers"]
        count = _config(folders[entry["model"]]).get("num_hidden_layers")
        if not 0 <= start < end <= count:
            raise ConfigError(f"{recipe.path}: {where}[{i}].layers = [{start}, {end}] is out of bounds: "
                              f"{entry['model']!r} has {count} layers, so use 0 <= start < end <= {count}")


def mergekit_config(recipe: Recipe, folders: dict[str, Path], parent: Path) -> dict[str, Any]:
    """The recipe in mergekit's own configuration schema (what `mergekit-yaml` reads)."""
    merge = recipe.merge
    config: dict[str, Any] = {"merge_method": merge.method, "dtype": merge.dtype}
    if merge.method == "passthrough":
        config["slices"] = [{"sources": [{"model": str(folders[s["model"]]), "layer_range": list(s["layers"])}]}
                            for s in merge.slices]
        return config
    models = []
    for entry in merge.models:
        parameters = {"weight": float(entry.get("weight", 1.0))}
        if "density" in entry:
            parameters["density"] = float(entry["density"])
        models.append({"model": str(folders[entry["model"]]), "parameters": parameters})
    config["models"] = models
    if merge.method in TASK_VECTOR_METHODS:
        config["base_model"] = str(parent)
        config["parameters"] = {"normalize": merge.normalize}
    elif merge.method == "slerp":
        config["base_model"] = models[0]["model"]  # t = 0 is the first model
        config["parameters"] = {"t": merge.t}
        for model in models:
            model.pop("parameters")
    else:
        config["parameters"] = {"normalize": merge.normalize}
    return config


def merge_key(recipe: Recipe, parent_fingerprint: str, fingerprints: dict[str, str]) -> str:
    """Content address: same inputs (by weights' fingerprint, not name) and settings -> the same merged model."""
    return stable_hash({"stage": "merge", "parent": parent_fingerprint, "settings": asdict(recipe.merge),
                        "inputs": {name: fingerprints[name] for name in input_names(recipe)},
                        "version": MERGE_VERSION})[:20]


def logit_distances(out: Path, folders: dict[str, Path]) -> dict[str, float]:
    """Load the result with transformers (as the hf backend does) and compare its logits with each input's."""
    import torch
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    vocab = merged.config.get_text_config().vocab_size
    ids = torch.tensor([[(7 * i + 3) % vocab for i in range(16)]])  # any fixed tokens: the check is a comparison
    with torch.inference_mode():
        result = merged(input_ids=ids).logits
        if not torch.isfinite(result).all():
            raise ModelError(f"the merged model in {out} gives non-finite logits; check merge.weights and dtype")
        distances = {}
        for name, folder in folders.items():
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
            distances[name] = float((model(input_ids=ids).logits - result).abs().max())
    return distances


def build_merge(recipe: Recipe, parent_name: str, parent, inputs: dict[str, Any], out: Path) -> dict[str, Any]:
    """Merge `inputs` (name -> ModelHandle) into `out` atomically; returns the provenance."""
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    folders = {name: Path(handle.folder) for name, handle in inputs.items()}
    check_inputs(recipe, {**folders, parent_name: Path(parent.folder)} if recipe.merge.method in
                 TASK_VECTOR_METHODS else folders)
    config = mergekit_config(recipe, folders, Path(parent.folder))
    started = time.perf_counter()
    with staged_folder(out) as tmp:
        run_merge(MergeConfiguration.model_validate(config), str(tmp),
                  MergeOptions(quiet=True, random_seed=recipe.merge.seed, write_model_card=False, copy_tokenizer=True))
        info = provenance(recipe, parent_name, parent, inputs, config, logit_distances(tmp, folders),
                          out.name, time.perf_counter() - started)
        (tmp / PROVENANCE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    return info


def _describe(recipe: Recipe) -> str:
    merge = recipe.merge
    if merge.method == "passthrough":
        return "passthrough: " + " + ".join(f"{s['model']}[{s['layers'][0]}:{s['layers'][1]}]" for s in merge.slices)
    return f"{merge.method}: " + " + ".join(f"{m['model']}×{m.get('weight', 1.0):g}" for m in merge.models)


def provenance(recipe: Recipe, parent_name: str, parent, inputs: dict[str, Any], config: dict[str, Any],
               distances: dict[str, float], key: str, seconds: float) -> dict[str, Any]:
    """Shaped like a trained model's provenance (no data, no steps), so lineage and the store read both."""
    fingerprints = {name: handle.fingerprint for name, handle in inputs.items()}
    return {
        "key": key, "stage": "merge", "created": time.time(), "method": f"{recipe.merge.method} (mergekit)",
        "method_note": _describe(recipe),
        "recipe": {"file": str(recipe.path), "description": recipe.description, "settings": recipe.settings()},
        "parent": {"name": parent_name, "fingerprint": parent.fingerprint, "folder": str(parent.folder)},
        "inputs": [{"name": name, "fingerprint": fingerprints[name], "folder": str(inputs[name].folder),
                    "max_logit_distance": distances[name]} for name in inputs],
        "mergekit_config": config,
        "data": {"origin": _describe(recipe), "content_hash": stable_hash(fingerprints)[:16], "train_rows": 0,
                 "heldout_rows": 0, "bad_rows_dropped": []},
        "decontamination": {"dropped": 0, "checked": 0, "ngram": recipe.decontamination.ngram,
                            "note": "a merge trains on no data"},
        "training": {"steps": 0, "resumed_from": None, "first_loss": None, "final_loss": None, "log_history": []},
        "merge": None, "heldout": {}, "timings_s": {"merge_s": round(seconds, 1)}, "packages": {**package_versions(), "mergekit": metadata.version("mergekit")},
        "environment": environment(),
    }


def merged_model(config, recipe: Recipe, parent_name: str, parent, store, prepare):
    """(content key, make(folder)) of a merge recipe: its input models readied, checked to hold weights."""
    check_recipe(recipe)
    if prepare is None:
        raise ConfigError(f"{recipe.path}: a merge recipe reads config models; build it through evalkit.toml")
    inputs = {name: prepare(config, name, store) for name in input_names(recipe)}
    endpoints = [name for name, handle in inputs.items() if handle.folder is None]
    if endpoints:
        raise ConfigError(f"{recipe.path}: merge input {endpoints[0]!r} is an API endpoint; merging needs weights")
    key = merge_key(recipe, parent.fingerprint, {name: h.fingerprint for name, h in inputs.items()})
    return key, lambda folder: build_merge(recipe, parent_name, parent, inputs, folder)


STAGE = register(TrainingStage("merge", "config models merged into one by mergekit (linear, task arithmetic, TIES, "
                               "DARE, SLERP, layers)", builds=merged_model))
