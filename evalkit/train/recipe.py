"""Training recipes: a TOML file whose every setting carries a comment, plus `--set key=value` overrides.

The dataclasses below are the schema: a key that is not a field is a typo and stops
with the allowed keys; a value of the wrong type stops with the expected type. The
parsed settings (not the file text) feed the content hash that names a trained
model, so editing a comment never retrains anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from evalkit.config import check_keys, read_toml
from evalkit.errors import ConfigError
from evalkit.train import recipe_rules
from evalkit.train.stages import TrainingStage, stage_named, trainer_stage

METHODS = ("qlora", "lora", "full")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
FORMATS = ("auto", "chat", "prompt_completion", "alpaca", "preference", "text")


@dataclass(frozen=True)
class DataSettings:
    sources: tuple[dict[str, Any], ...] = ()  # tried in order, like a task's [[sources]]
    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)  # canonical name -> field path in the row ("a.b")
    prompt_template: str = ""  # Jinja over the row; builds the user turn when set
    system: str = ""  # optional system message added to every example
    heldout: int = 0  # the first N rows are never trained on: they measure the result
    limit: int = 0  # at most this many training rows after the held-out ones (0: all)
    on_bad_row: str = "stop"  # stop: the first bad row ends the build; drop: skip bad rows, count them


@dataclass(frozen=True)
class DecontaminationSettings:
    ngram: int = 13
    drop: bool = True


@dataclass(frozen=True)
class ModelSettings:
    method: str = "qlora"
    compute_dtype: str = "float32"
    chat_template: str = "auto"  # auto, or a .jinja file with {% generation %} markers


@dataclass(frozen=True)
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] | str = "all-linear"
    layers: int = 0  # adapt only the top N decoder layers (0: all); backward then stops there


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 256
    epochs: float = 1.0
    max_steps: int = -1
    seed: int = 1234
    weight_decay: float = 0.0
    gradient_checkpointing: bool = False
    assistant_only_loss: bool = True
    prompt_loss_weight: float = 0.0  # SFT: weight of the prompt's tokens in the loss (0: assistant-only, 1: all)
    logging_steps: int = 1
    save_steps: int = 10
    eval_batch_size: int = 8


@dataclass(frozen=True)
class PreferenceSettings:
    beta: float = 0.1
    loss_type: str = "sigmoid"


@dataclass(frozen=True)
class MergeSettings:
    """stage = "merge": config models combined by mergekit (evalkit/train/merge.py)."""

    method: str = "linear"  # linear | task_arithmetic | ties | dare_ties | dare_linear | slerp | passthrough
    models: tuple[dict[str, Any], ...] = ()  # [{model = NAME, weight = w, density = d}]: config model names
    slices: tuple[dict[str, Any], ...] = ()  # passthrough: [{model = NAME, layers = [start, end]}], stacked in order
    normalize: bool = True  # linear / task vectors: divide by the sum of the weights
    t: float = 0.5  # slerp: 0 is the first model, 1 the second
    dtype: str = "float32"  # the dtype mergekit computes and saves in
    seed: int = 1234  # DARE's random drop of delta weights


@dataclass(frozen=True)
class StackSettings:
    """stage = "stack": a new adapter trained on top of the parent's own kept adapter (evalkit/train/stack.py)."""

    stage: str = "dpo"  # what the top adapter trains: sft | dpo | orpo
    keep: str = "adapters"  # adapters: the base with both adapters active; merged: both merged in sequence


@dataclass(frozen=True)
class DistillSettings:
    """stage = "distill": a teacher's answers to the [data] prompts become SFT data (evalkit/train/distill.py)."""

    teacher: str = ""  # a config model name: local weights, a recipe model or an API endpoint
    max_new_tokens: int = 256  # longest teacher answer
    temperature: float = 0.0  # 0: greedy answers; above 0 sampled with `seed`
    seed: int = 1234  # the teacher's sampling seed (part of each cached request)
    system: str = ""  # a system message the teacher sees ("" none); the student's examples carry data.system


SECTIONS = {"data": DataSettings, "decontamination": DecontaminationSettings, "model": ModelSettings,
            "lora": LoraSettings, "train": TrainSettings, "preference": PreferenceSettings, "merge": MergeSettings,
            "stack": StackSettings, "distill": DistillSettings}
# Settings added after models were first built, left out of the hashed settings while at their default so that
# an existing model keeps its content key (and is not retrained) after an upgrade.
LATER_DEFAULTS = {"train": {"prompt_loss_weight": 0.0}}
LATER_SECTIONS = ("merge", "stack", "distill")


@dataclass(frozen=True)
class Recipe:
    path: Path
    stage: str
    description: str
    data: DataSettings
    decontamination: DecontaminationSettings
    model: ModelSettings
    lora: LoraSettings
    train: TrainSettings
    preference: PreferenceSettings
    merge: MergeSettings
    stack: StackSettings
    distill: DistillSettings

    @property
    def trainer(self) -> TrainingStage:
        """The stage whose trainer runs: its own, or a stack's top stage, or a distillation's SFT."""
        return trainer_stage(self)

    def hashed_settings(self) -> dict[str, Any]:
        """settings() as the content key sees them: later additions drop out while at their defaults."""
        out = self.settings()
        for section in LATER_SECTIONS:
            if out[section] == asdict(SECTIONS[section]()):
                out.pop(section)
        for section, defaults in LATER_DEFAULTS.items():
            for key, value in defaults.items():
                if out[section].get(key) == value:
                    out[section].pop(key)
        return out

    def settings(self) -> dict[str, Any]:
        """Everything that changes the trained weights, as plain JSON (for hashes and provenance)."""
        out = {"stage": self.stage}
        out.update({name: asdict(getattr(self, name)) for name in SECTIONS})
        return out


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {path} not found; see recipes/ for examples")
    raw, _ = read_toml(path)
    for override in overrides:
        apply_override(raw, override, path)
    return recipe_from_dict(raw, path)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.learning_rate=1e-4` -> (["train", "learning_rate"], 0.0001). Values are TOML; bare words are strings."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected SECTION.KEY=VALUE, e.g. --set train.learning_rate=1e-4")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value  # `--set model.method=lora` without quotes
    return key.split("."), parsed


def apply_override(raw: dict[str, Any], text: str, path: Path) -> None:
    parts, value = parse_override(text)
    table = raw
    for part in parts[:-1]:
        if part not in SECTIONS:
            raise ConfigError(f"--set {text!r}: unknown section {part!r}; sections: {', '.join(SECTIONS)}")
        table = table.setdefault(part, {})
    table[parts[-1]] = value


def recipe_from_dict(raw: dict[str, Any], path: Path) -> Recipe:
    check_keys(raw, {"stage", "description", *SECTIONS}, str(path))
    stage = stage_named(raw.get("stage"), str(path)).name
    sections = {name: _section(cls, raw.get(name, {}), name, path) for name, cls in SECTIONS.items()}
    recipe = Recipe(path=path, stage=stage, description=str(raw.get("description", "")), **sections)
    _check_values(recipe)
    return recipe


def _section(cls, table: Any, name: str, path: Path):
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values = {}
    check_keys(table, set(known), str(path), prefix=f"{name}.")
    for key, value in table.items():
        values[key] = _coerce(value, getattr(cls(), key), f"{name}.{key}", path)
    return cls(**values)


def _coerce(value: Any, default: Any, where: str, path: Path) -> Any:
    """Check a value against its default's type; TOML arrays become tuples so the recipe stays frozen."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, (str, tuple)) and where.endswith("target_modules"):
        ok = isinstance(value, str) or (isinstance(value, tuple) and all(isinstance(v, str) for v in value))
    elif isinstance(default, tuple):
        ok = isinstance(value, tuple) and all(isinstance(v, dict) for v in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"{path}: {where} = {value!r} should be {type(default).__name__}")
    return value


def _check_values(recipe: Recipe) -> None:
    path = recipe.path
    checks = [
        (recipe.model.method in METHODS, f"model.method = {recipe.model.method!r}; choose one of {', '.join(METHODS)}"),
        (recipe.model.compute_dtype in COMPUTE_DTYPES,
         f"model.compute_dtype = {recipe.model.compute_dtype!r}; choose one of {', '.join(COMPUTE_DTYPES)}"),
        (recipe.data.format in FORMATS, f"data.format = {recipe.data.format!r}; choose one of {', '.join(FORMATS)}"),
        (recipe.data.on_bad_row in ("stop", "drop"), f"data.on_bad_row = {recipe.data.on_bad_row!r}; use stop or drop"),
        (bool(recipe.data.sources) or not stage_named(recipe.stage, str(path)).trains,
         "[[data.sources]] is empty; name at least one file, package file or hub dataset"),
        (recipe.train.learning_rate > 0, f"train.learning_rate = {recipe.train.learning_rate} must be positive"),
        (recipe.train.batch_size >= 1 and recipe.train.gradient_accumulation >= 1,
         "train.batch_size and train.gradient_accumulation must be at least 1"),
        (recipe.train.max_length >= 16, f"train.max_length = {recipe.train.max_length} is too short; use 16 or more"),
        (0 <= recipe.train.warmup_ratio < 1, f"train.warmup_ratio = {recipe.train.warmup_ratio}; use 0 <= ratio < 1"),
        (recipe.lora.r >= 1, f"lora.r = {recipe.lora.r} must be at least 1"),
        (0 <= recipe.lora.dropout < 1, f"lora.dropout = {recipe.lora.dropout}; use 0 <= dropout < 1"),
        (recipe.decontamination.ngram >= 4, f"decontamination.ngram = {recipe.decontamination.ngram}; use 4 or more"),
        (recipe.preference.beta > 0, f"preference.beta = {recipe.preference.beta} must be positive"),
        (recipe.data.heldout >= 0 and recipe.data.limit >= 0, "data.heldout and data.limit must be 0 or more"),
        (0 <= recipe.train.prompt_loss_weight <= 1,
         (f"train.prompt_loss_weight = {recipe.train.prompt_loss_weight}; use a weight between 0 (assistant-only "
          f"loss) and 1 (every token)")),
        (recipe.train.prompt_loss_weight == 0 or recipe.train.assistant_only_loss,
         (f"train.prompt_loss_weight = {recipe.train.prompt_loss_weight} needs train.assistant_only_loss = true "
          f"(false already trains on every token at full weight)")),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{path}: {message}")
    for message in recipe_rules.problems(recipe):  # what PEFT/TRL would reject only after the model loads
        raise ConfigError(f"{path}: {message}")
