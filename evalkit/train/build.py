"""On-demand models: a model in evalkit.toml can be a recipe applied to a parent model.

`evalkit run --models base,sft,dpo` prepares each model; a recipe model first prepares its
parent (recursively, so dependency order comes for free), then plans the stage: data,
decontamination and the content key (parent fingerprint + recipe settings + data hash).
The result lives at `<cache>/trained/<key>`: if it is there it is reused as is, otherwise
it is trained (resuming from `<key>.work/checkpoints` if an earlier build was killed).
Each build's provenance is also recorded in the store, so the leaderboard can show the
lineage from the store alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.models import sources as models
from evalkit.store import Store
from evalkit.train.pipeline import PROVENANCE, make_plan, run_stage
from evalkit.train.recipe import Recipe, load_recipe
from evalkit.train.stages import STAGES, StageInputs


def trained_root() -> Path:
    return models.cache_dir() / "trained"


def recipe_for(config, spec) -> Recipe:
    if not spec.parent:
        raise ConfigError(f"{config.path}: models.{spec.name} has recipe = {spec.recipe!r} but no parent; "
                          f"add parent = \"base\" (the model it trains from)")
    return load_recipe(config.find(spec.recipe))


def build_model(config, recipe: Recipe, parent_name: str, parent, store: Store, quiet: bool = False,
                prepare=None, decontaminate_also: dict[str, list[dict]] | None = None) -> Path:
    """The folder of `recipe` trained from `parent` (a runner.ModelHandle): reused if built before.

    `prepare(config, name, store)` readies the other config models a recipe reads: a merge's inputs, a
    stack's base, a distillation's teacher. `decontaminate_also`: rows to drop overlaps with besides the
    suites' tasks (pipeline.make_plan)."""
    if parent.folder is None:
        raise ConfigError(f"model {parent_name!r} is an API endpoint; training needs local weights as the parent")
    stage = STAGES[recipe.stage]
    if stage.builds:  # made without a trainer (a merge)
        key, make = stage.builds(config, recipe, parent_name, parent, store, prepare)
    else:
        plan = _plan(config, recipe, parent_name, parent, store, prepare, decontaminate_also, quiet)
        key = plan.key

        def make(folder: Path) -> None:  # checkpoints in <key>.work survive a kill and are resumed
            run_stage(plan, folder, trained_root() / f"{key}.work", quiet=quiet)
    folder = trained_root() / key
    if not (folder / PROVENANCE).is_file():
        make(folder)
    if (folder / PROVENANCE).is_file():  # absent on the non-main ranks of a multi-process run
        record(store, folder)
    return folder


def _plan(config, recipe: Recipe, parent_name: str, parent, store: Store, prepare, decontaminate_also=None,
          quiet: bool = False):
    """The training plan, after the stage readies what it reads besides [data] (a distillation's teacher
    answers, cached; a stack's adapter)."""
    stage = STAGES[recipe.stage]
    inputs = stage.inputs(config, recipe, parent_name, parent, store, prepare, quiet) if stage.inputs else StageInputs()
    plan = make_plan(recipe, parent_name, Path(parent.folder), parent.fingerprint, config, inputs.examples,
                     decontaminate_also)
    return replace(plan, stack=inputs.stack, extra=inputs.extra)


def record(store: Store, folder: Path) -> dict[str, Any]:
    info = json.loads((folder / PROVENANCE).read_text(encoding="utf-8"))
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO trained_models VALUES (?,?,?,?,?,?)",
                   (folder.name, str(folder), info["stage"], info["parent"]["name"], info.get("created", time.time()),
                    json.dumps(info, default=str)))
    return info


def trained_info(store: Store, key: str) -> dict[str, Any] | None:
    row = store.db.execute("SELECT provenance FROM trained_models WHERE key=?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def prepare_recipe_model(config, spec, store: Store, prepare_parent, decontaminate_also=None):
    """runner.prepare_model's hook: (folder, origin) of a recipe model, its parent prepared first."""
    recipe = recipe_for(config, spec)
    parent = prepare_parent(config, spec.parent, store)
    folder = build_model(config, recipe, spec.parent, parent, store, prepare=prepare_parent,
                         decontaminate_also=decontaminate_also)
    return models.ResolvedModel(folder, f"recipe:{spec.recipe} of {spec.parent}")
