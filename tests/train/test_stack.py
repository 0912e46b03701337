"""Stack recipes on the tiny model: a DPO adapter trained on top of an SFT adapter, kept as two adapters
(PEFT multi-adapter, both active, loaded by the hf backend) or merged in sequence; cached by parent + recipe
+ data; bad input named by recipe and key."""

import json
from pathlib import Path

import pytest
from train_helpers import PREFERENCE_ROWS, SFT_ROWS, write_jsonl

from evalkit.errors import ConfigError

LORA = "[model]\nmethod = \"lora\"\n[lora]\nr = 4\nalpha = 8\ndropout = 0.0\n"
TRAIN = "[train]\nmax_steps = 2\nsave_steps = 2\nbatch_size = 4\nmax_length = 64\nlearning_rate = 1e-2\n"


def project(tmp_path: Path, tiny_model_dir: Path, keep: str = "adapters", sft_method: str = "lora") -> Path:
    write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS[:16])
    write_jsonl(tmp_path / "pref.jsonl", PREFERENCE_ROWS[:16])
    (tmp_path / "sft.toml").write_text('stage = "sft"\n[data]\nsources = [{ kind = "file", path = "sft.jsonl" }]\n'
                                       'heldout = 4\n' + LORA.replace('"lora"', f'"{sft_method}"') + TRAIN)
    (tmp_path / "stack.toml").write_text(f'stage = "stack"\n[stack]\nstage = "dpo"\nkeep = "{keep}"\n[data]\n'
                                         'sources = [{ kind = "file", path = "pref.jsonl" }]\nheldout = 4\n'
                                         + LORA + TRAIN)
    (tmp_path / "evalkit.toml").write_text(f'[project]\nstore = "store.db"\n[models.base]\nsource = "{tiny_model_dir}"\n'
                                           '[models.sft]\nrecipe = "sft.toml"\nparent = "base"\n'
                                           '[models.dpo]\nrecipe = "stack.toml"\nparent = "sft"\n')
    return tmp_path / "evalkit.toml"


def prepared(config_path: Path, name: str):
    from evalkit.config import load_config
    from evalkit.store.db import Store
    from evalkit.train import prepare_model

    config = load_config(config_path)
    store = Store(config.store)
    return prepare_model(config, name, store), config, store


def hf_logits(handle, ids=((1, 5, 9, 17, 33, 60, 2),)):
    import torch

    from evalkit.backends.hf_load import load_model_and_tokenizer

    model, _, _ = load_model_and_tokenizer(handle.spec, Path(handle.folder))
    with torch.inference_mode():
        return model(input_ids=torch.tensor(ids)).logits


@pytest.mark.parametrize("keep", ["adapters", "merged"])
def test_a_dpo_adapter_stacked_on_the_sft_adapter(keep, tiny_model_dir, tmp_path, cache):
    import torch
    from safetensors.torch import load_file

    from evalkit.backends.stacked import stacked_adapters
    from evalkit.report.lineage import stage_cell
    from evalkit.train.build import trained_info

    dpo, _, store = prepared(project(tmp_path, tiny_model_dir, keep), "dpo")
    info = trained_info(store, Path(dpo.folder).name)
    assert info["stage"] == "stack" and info["stack"] == {"base": "base", "adapters": ["sft", "stack"], "keep": keep}
    assert info["training"]["steps"] == 2 and info["merge"]["max_logit_difference"] < 1e-3
    kept = "kept as two adapters, both active" if keep == "adapters" else "merged in sequence"
    assert stage_cell(info) == f"stack · lora · stack adapter on sft's over base, {kept}"  # the leaderboard's lineage
    adapters = stacked_adapters(dpo.folder)
    if keep == "adapters":  # the base's own weights, two adapters beside them
        assert [a.name for a in adapters] == ["sft", "stack"]
        base_weights = (tiny_model_dir / "model.safetensors").read_bytes()
        assert (Path(dpo.folder) / "model.safetensors").read_bytes() == base_weights
        sft_adapter = Path(info["parent"]["folder"]) / "adapter" / "adapter_model.safetensors"
        assert (adapters[0] / "adapter_model.safetensors").read_bytes() == sft_adapter.read_bytes()  # kept frozen
        top = load_file(adapters[1] / "adapter_model.safetensors")
        assert any(float(t.abs().max()) > 0 for k, t in top.items() if "lora_B" in k)  # B starts at 0: it trained
    else:
        assert adapters == [] and not (Path(dpo.folder) / "adapters").exists()
    sft, _, _ = prepared(tmp_path / "evalkit.toml", "sft")
    base, _, _ = prepared(tmp_path / "evalkit.toml", "base")
    stacked, only_sft, bare = hf_logits(dpo), hf_logits(sft), hf_logits(base)
    assert not torch.allclose(stacked, only_sft, atol=1e-5) and not torch.allclose(stacked, bare, atol=1e-5)
    # the same model however it was kept: base + sft adapter + dpo adapter, both active
    assert info["heldout"]["after"]["likelihood_accuracy"]["n"] == 4


def test_a_stack_is_cached_and_its_fingerprint_covers_the_adapters(tiny_model_dir, tmp_path, cache):
    from evalkit.models.sources import folder_hash

    first, _, _ = prepared(project(tmp_path, tiny_model_dir), "dpo")
    again, _, _ = prepared(tmp_path / "evalkit.toml", "dpo")
    assert again.folder == first.folder and again.fingerprint == first.fingerprint
    before = folder_hash(Path(first.folder))
    top = Path(first.folder) / "adapters" / "stack" / "adapter_config.json"
    config = json.loads(top.read_text())
    top.write_text(json.dumps({**config, "lora_alpha": 99}))
    assert folder_hash(Path(first.folder)) != before


def test_stacking_on_a_parent_without_an_adapter_names_recipe_and_fix(tiny_model_dir, tmp_path, cache):
    with pytest.raises(ConfigError, match=r"stack\.toml.*stage = \"stack\".*'sft' keeps none.*LoRA recipe model"):
        prepared(project(tmp_path, tiny_model_dir, sft_method="full"), "dpo")


@pytest.mark.parametrize("setting, message", [
    ('stage = "reward"', r"stack\.stage = 'reward'; the top adapter trains one of dpo, orpo, sft"),
    ('keep = "both"', r"stack\.keep = 'both'; use adapters"),
])
def test_bad_stack_settings_name_the_key(setting, message, tmp_path):
    from evalkit.train.recipe import load_recipe

    (tmp_path / "r.toml").write_text(f'stage = "stack"\n[stack]\n{setting}\n[data]\n'
                                     'sources = [{ kind = "file", path = "p.jsonl" }]\n')
    with pytest.raises(ConfigError, match=message):
        load_recipe(tmp_path / "r.toml")
