"""On-demand building: recipe models in evalkit.toml are trained once, then reused; the store keeps lineage."""

import json
from pathlib import Path

import pytest
from train_helpers import SFT_ROWS, write_jsonl


def project(tmp_path: Path, tiny_model_dir: Path, steps: int = 2) -> Path:
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    (tmp_path / "sft.toml").write_text(f"""
stage = "sft"
[data]
sources = [{{ kind = "file", path = "sft.jsonl" }}]
heldout = 8
[model]
method = "lora"
[lora]
r = 4
alpha = 8
[train]
max_steps = {steps}
save_steps = 2
batch_size = 4
max_length = 64
learning_rate = 1e-2
""")
    (tmp_path / "evalkit.toml").write_text(f"""
[project]
store = "store.db"
[models.base]
source = "{tiny_model_dir}"
[models.sft]
recipe = "sft.toml"
parent = "base"
[models.orphan]
recipe = "sft.toml"
[suites.s]
tasks = ["sums"]
""")
    (tmp_path / "tasks").mkdir(exist_ok=True)
    write_jsonl(tmp_path / "sums.jsonl", [{"id": str(i), "text": f"What is {i} plus {i}? The answer is {2 * i}."}
                                          for i in range(4)])
    (tmp_path / "tasks" / "sums.toml").write_text(
        'name = "sums"\nversion = 1\nkind = "perplexity"\nid_field = "id"\n[[sources]]\nkind = "file"\n'
        'path = "../sums.jsonl"\n[perplexity]\ntext = "{{ text }}"\n')
    return tmp_path / "evalkit.toml"


def test_a_recipe_model_is_built_once_then_reused(tiny_model_dir, tmp_path, cache, monkeypatch):
    from evalkit.config import load_config
    from evalkit.store.db import Store
    from evalkit.train import build, prepare_model

    config = load_config(project(tmp_path, tiny_model_dir))
    store = Store(config.store)
    first = prepare_model(config, "sft", store)
    assert Path(first.folder).parent == cache / "trained"
    assert build.trained_info(store, Path(first.folder).name)["parent"]["name"] == "base"

    def must_not_train(*args, **kwargs):
        raise AssertionError("a model that exists was trained again")

    monkeypatch.setattr(build, "run_stage", must_not_train)
    second = prepare_model(config, "sft", store)
    assert (second.folder, second.fingerprint) == (first.folder, first.fingerprint)
    base = prepare_model(config, "base", store)
    assert second.fingerprint != base.fingerprint


def test_evalkit_run_builds_evaluates_and_reports_lineage(tiny_model_dir, tmp_path, cache):
    from evalkit.config import load_config
    from evalkit.progress.console import ConsoleUI
    from evalkit.report import leaderboard as report
    from evalkit.run import pipeline as runner
    from evalkit.store.db import Store

    config = load_config(project(tmp_path, tiny_model_dir))
    store = Store(config.store)
    run_id = runner.run(config, ["base", "sft"], "s", store, ConsoleUI(quiet=True))
    text = report.render(store, run_id, tmp_path / "reports")
    assert "## Training lineage" in text and "| **sft** | base → sft | sft · lora |" in text
    # the sums rows share 13-grams with no training row, and the suite's task was checked
    info = json.loads(next((cache / "trained").glob("*/evalkit_training.json")).read_text())
    assert info["decontamination"]["tasks"] == ["sums"] and info["decontamination"]["dropped"] == 0
    assert {r["model"] for r in store.results(run_id)} == {"base", "sft"}


def test_the_key_follows_parent_recipe_and_data(tiny_model_dir, tmp_path):
    from evalkit.train.pipeline import make_plan
    from evalkit.train.recipe import load_recipe

    project(tmp_path, tiny_model_dir)
    recipe = load_recipe(tmp_path / "sft.toml")
    key = make_plan(recipe, "base", tiny_model_dir, "fp-a").key
    assert make_plan(recipe, "base", tiny_model_dir, "fp-a").key == key  # deterministic
    assert make_plan(recipe, "base", tiny_model_dir, "fp-b").key != key  # another parent
    changed = load_recipe(tmp_path / "sft.toml", ["train.learning_rate=1e-3"])
    assert make_plan(changed, "base", tiny_model_dir, "fp-a").key != key  # another setting
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS[:-1])
    assert make_plan(recipe, "base", tiny_model_dir, "fp-a").key != key  # other data


def test_a_recipe_model_without_parent_is_a_config_error(tiny_model_dir, tmp_path):
    from evalkit.config import load_config
    from evalkit.errors import ConfigError
    from evalkit.store.db import Store
    from evalkit.train import prepare_model

    config = load_config(project(tmp_path, tiny_model_dir))
    with pytest.raises(ConfigError, match="models.orphan has recipe = 'sft.toml' but no parent"):
        prepare_model(config, "orphan", Store(config.store))


def test_lineage_section_renders_from_the_store(tmp_path):
    from evalkit.report.lineage import lineage_section
    from evalkit.store.db import Store
    from evalkit.train import build

    store = Store(tmp_path / "store.db")
    folders = {}
    for name, parent, stage in (("sft", "base", "sft"), ("dpo", "sft", "dpo")):
        folder = tmp_path / f"key-{name}"
        folder.mkdir()
        heldout = ({"before": {"assistant_perplexity": 9.5, "n": 10, "tokens": 200},
                    "after": {"assistant_perplexity": 4.25, "n": 10, "tokens": 200}} if stage == "sft" else
                   {"before": {"likelihood_accuracy": {"value": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 20}},
                    "after": {"likelihood_accuracy": {"value": 0.75, "ci_low": 0.53, "ci_high": 0.89, "n": 20},
                              "reward_accuracy": {"value": 0.8, "ci_low": 0.58, "ci_high": 0.92, "n": 20}}})
        info = {"stage": stage, "method": "qlora", "parent": {"name": parent}, "created": 1.0,
                "recipe": {"file": f"recipes/{stage}.toml", "settings": {"train": {"learning_rate": 2e-4}}},
                "data": {"origin": "/x/data.jsonl", "train_rows": 40, "content_hash": "abc123"},
                "decontamination": {"dropped": 3, "checked": 43, "ngram": 13},
                "training": {"steps": 6, "log_history": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]},
                "heldout": heldout}
        (folder / "evalkit_training.json").write_text(json.dumps(info))
        build.record(store, folder)
        folders[name] = folder
    run = {"provenance": {"models": {
        "base": {"folder": "/models/base", "spec": {"recipe": None, "parent": None}},
        "sft": {"folder": str(folders["sft"]), "spec": {"recipe": "recipes/sft.toml", "parent": "base"}},
        "dpo": {"folder": str(folders["dpo"]), "spec": {"recipe": "recipes/dpo.toml", "parent": "sft"}}}}}
    lines = lineage_section(store, run, tmp_path / "reports")
    text = "\n".join(lines)
    assert lines[0] == "## Training lineage"
    assert "| **dpo** | base → sft → dpo | dpo · qlora |" in text
    assert "assistant-turn perplexity 9.500 → 4.250 (n=10" in text
    assert "prefers chosen 0.5000 → 0.7500" in text and "DPO reward accuracy 0.8000" in text
    assert "3 of 43 dropped (13-gram)" in text
    assert (tmp_path / "reports" / "training-dpo-loss.png").read_bytes()[:4] == b"\x89PNG"
    assert lineage_section(store, {"provenance": {"models": {"base": run["provenance"]["models"]["base"]}}},
                           tmp_path) == []
