"""A configured model name → a ready ModelHandle, training the model first when it is a recipe.

Every feature that runs a configured model (run, answers, judges, serve, train's own parents) comes
through here, so a recipe candidate is built on demand and reused while parent, recipe and data are
unchanged (evalkit/train/build.py).
"""

from __future__ import annotations

from evalkit.backends import is_endpoint
from evalkit.config import Config
from evalkit.models import ModelHandle, endpoint_handle, fingerprint, resolve
from evalkit.models.parallel import world
from evalkit.store import Store
from evalkit.train.build import prepare_recipe_model


def prepare_model(config: Config, name: str, store: Store,
                  decontaminate_also: dict[str, list[dict]] | None = None) -> ModelHandle:
    """`decontaminate_also`: {name: rows} a recipe model's training data is cleaned of besides the suites'
    tasks (a reward judge: the prompt set it judges)."""
    spec = config.model(name)
    if is_endpoint(spec):
        return endpoint_handle(spec)
    ranks = world()
    if spec.recipe:  # trained on demand from its parent (reused when already built): evalkit/train/build.py
        # every rank trains (TRL shards the batches); the main rank then merges and saves alone
        resolved = prepare_recipe_model(config, spec, store, prepare_model, decontaminate_also)
        ranks.barrier()
    else:  # one rank converts a GGUF or downloads from the hub into the shared cache
        resolved = ranks.main_first(resolve, spec, config.root)
    return ModelHandle(spec, resolved.folder, fingerprint(spec, resolved, store))
