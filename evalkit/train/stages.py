"""The training stages, one registry: `recipe.stage` names one, and everything that differs between
stages is declared on its object here rather than tested by name elsewhere.

A stage lives in its own module (sft.py, dpo.py, ...), which builds its `TrainingStage` and registers it;
evalkit/train/__init__.py imports each stage module once, so the registry is full whenever any part of
evalkit.train is imported. Adding a stage is a new module plus its line there (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from evalkit.errors import ConfigError

DATA_SHAPES = ("chat", "preference", "text")  # what a stage's [data] rows are normalised to (train/formats.py)
HEADS = ("causal", "score")  # a language-model head, or a one-output score head (a reward model)


@dataclass(frozen=True)
class StageInputs:
    """What a stage readies before its plan (a stage's `inputs` hook): examples made by the stage itself (a
    distillation's teacher answers; None reads [data]), provenance it adds, and a stack's base and adapter."""

    examples: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    stack: Any = None


@dataclass(frozen=True)
class TrainingStage:
    """One stage. A stage with a `trainer` trains on its own; one with `runs_as` trains with another stage's
    trainer (a stack's top adapter, a distillation's SFT); one with `builds` makes its model with no trainer."""

    name: str
    help: str  # one line for `evalkit train --help`
    data: str | None = None  # the [data] shape it trains on (DATA_SHAPES); None: its trainer's, or no data
    trainer: Callable[..., Any] | None = None  # (model, tokenizer, dataset, recipe, checkpoints, peft, callbacks)
    head: str = "causal"
    stackable: bool = False  # may be the top adapter of a stack
    reference: bool = False  # trains against a frozen reference policy (a stack hands it the parent as saved)
    runs_as: Callable[[Any], str] | None = None  # recipe -> the name of the stage whose trainer runs
    inputs: Callable[..., StageInputs] | None = None  # (config, recipe, parent_name, parent, store, prepare, quiet)
    builds: Callable[..., tuple[str, Callable]] | None = None  # (config, recipe, parent_name, parent, store,
    #   prepare) -> (content key, make(folder)): a model made without training (a merge)
    rules: Callable[[Any], list[tuple[bool, str]]] = lambda recipe: []  # (ok, "key = value; fix") of its settings

    def __post_init__(self):
        if self.data is not None and self.data not in DATA_SHAPES:
            raise ValueError(f"stage {self.name!r}: data = {self.data!r}; use one of {', '.join(DATA_SHAPES)}")
        if self.head not in HEADS:
            raise ValueError(f"stage {self.name!r}: head = {self.head!r}; use one of {', '.join(HEADS)}")
        if sum(x is not None for x in (self.trainer, self.runs_as, self.builds)) != 1:
            raise ValueError(f"stage {self.name!r} needs exactly one of trainer, runs_as, builds")
        if self.trainer is not None and self.data is None:
            raise ValueError(f"stage {self.name!r} has a trainer but no data shape")

    @property
    def trains(self) -> bool:
        """Reads [data] and runs a trainer (its own or another stage's)."""
        return self.builds is None


STAGES: dict[str, TrainingStage] = {}


def register(stage: TrainingStage) -> TrainingStage:
    if stage.name in STAGES:
        raise ValueError(f"a training stage named {stage.name!r} is already registered")
    STAGES[stage.name] = stage
    return stage


def unregister(name: str) -> None:
    STAGES.pop(name, None)


def stage_named(name: Any, where: str) -> TrainingStage:
    if name not in STAGES:
        raise ConfigError(f"{where}: stage = {name!r}; choose one of {', '.join(STAGES)}")
    return STAGES[name]


def stackable() -> list[str]:
    return [name for name, stage in STAGES.items() if stage.stackable]


def trainer_stage(recipe) -> TrainingStage:
    """The stage whose trainer runs for `recipe`: its own, or the one it runs as."""
    stage = STAGES[recipe.stage]
    return STAGES[stage.runs_as(recipe)] if stage.runs_as else stage
