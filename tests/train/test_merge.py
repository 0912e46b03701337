"""Merge recipes through mergekit on two tiny models: exact reproduction by a 1.0/0.0 linear merge, task
vectors, TIES/DARE/SLERP results that load, layer stacking, caching, and bad input named by recipe and key."""

import json
import re
import shutil
from pathlib import Path

import pytest

from evalkit.errors import ConfigError


@pytest.fixture(scope="module")
def second_model(tmp_path_factory) -> Path:
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-b") / "model", seed=1)  # same tokenizer, other weights


def project(tmp_path: Path, models: dict[str, Path], merge: str) -> Path:
    (tmp_path / "merge.toml").write_text(f'stage = "merge"\n[merge]\n{merge}\n')
    sources = "".join(f'[models.{name}]\nsource = "{folder}"\n' for name, folder in models.items())
    (tmp_path / "evalkit.toml").write_text(f'[project]\nstore = "store.db"\n{sources}'
                                           f'[models.merged]\nrecipe = "merge.toml"\nparent = "a"\n')
    return tmp_path / "evalkit.toml"


def build(tmp_path, models, merge):
    from evalkit.config import load_config
    from evalkit.store.db import Store
    from evalkit.train import prepare_model

    config = load_config(project(tmp_path, models, merge))
    store = Store(config.store)
    return prepare_model(config, "merged", store), config, store


def logits(folder, ids=((1, 5, 9, 17, 33, 60, 2),)):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.inference_mode():
        return model(input_ids=torch.tensor(ids)).logits


def test_a_one_zero_linear_merge_reproduces_its_first_input_exactly(tiny_model_dir, second_model, tmp_path, cache,
                                                                    monkeypatch):
    import torch

    from evalkit.train import build as builder
    from evalkit.train import merge as merge_stage

    models = {"a": tiny_model_dir, "b": second_model}
    merged, _, store = build(tmp_path, models, 'method = "linear"\nmodels = [{ model = "a", weight = 1.0 }, '
                                                    '{ model = "b", weight = 0.0 }]')
    assert torch.equal(logits(merged.folder), logits(tiny_model_dir))
    assert not torch.equal(logits(second_model), logits(tiny_model_dir))  # so the equality above says something
    info = builder.trained_info(store, Path(merged.folder).name)
    assert info["stage"] == "merge" and info["parent"]["name"] == "a"
    assert (info["inputs"][0]["name"], info["inputs"][0]["max_logit_distance"]) == ("a", 0.0)
    assert info["mergekit_config"]["merge_method"] == "linear" and info["packages"]["mergekit"]
    from evalkit.report.lineage import _recipe_cell, stage_cell

    assert stage_cell(info) == "merge · linear (mergekit) · linear: a×1 + b×0"  # the leaderboard's lineage row
    assert _recipe_cell(info) == "`merge.toml`, no training"

    def must_not_merge(*args, **kwargs):
        raise AssertionError("a merged model that exists was merged again")

    monkeypatch.setattr(merge_stage, "build_merge", must_not_merge)
    again, _, _ = build(tmp_path, models, 'method = "linear"\nmodels = [{ model = "a", weight = 1.0 }, '
                                          '{ model = "b", weight = 0.0 }]')
    assert again.folder == merged.folder


def test_task_arithmetic_adds_the_whole_task_vector_onto_the_parent(tiny_model_dir, second_model, tmp_path, cache):
    import torch

    merged, _, _ = build(tmp_path, {"a": tiny_model_dir, "b": second_model},
                         'method = "task_arithmetic"\nnormalize = false\nmodels = [{ model = "b", weight = 1.0 }]')
    # a + 1.0 * (b - a) is b, up to float rounding
    assert torch.allclose(logits(merged.folder), logits(second_model), atol=1e-4)


@pytest.mark.parametrize("method, extra", [("ties", ", density = 0.5"), ("dare_ties", ", density = 0.5"),
                                           ("dare_linear", ", density = 0.7"), ("slerp", "")])
def test_sparse_and_spherical_merges_load_and_sit_between_their_inputs(tiny_model_dir, second_model, tmp_path,
                                                                        cache, method, extra):
    import torch

    third = tmp_path / "c"
    shutil.copytree(second_model, third)  # a third input for the task-vector methods (parent a is the base)
    models = {"a": tiny_model_dir, "b": second_model, "c": third}
    entries = ('{ model = "a" }, { model = "b" }' if method == "slerp" else
               f'{{ model = "b", weight = 0.5{extra} }}, {{ model = "c", weight = 0.5{extra} }}')
    merged, _, _ = build(tmp_path, models, f'method = "{method}"\nmodels = [{entries}]')
    result = logits(merged.folder)
    assert torch.isfinite(result).all()
    assert not torch.equal(result, logits(tiny_model_dir)) and not torch.equal(result, logits(second_model))
    saved = json.loads((Path(merged.folder) / "config.json").read_text())
    assert saved["num_hidden_layers"] == 2 and saved["architectures"] == ["LlamaForCausalLM"]


def test_passthrough_stacks_layer_ranges_into_a_deeper_model(tiny_model_dir, second_model, tmp_path, cache):
    from transformers import AutoModelForCausalLM

    merged, _, _ = build(tmp_path, {"a": tiny_model_dir, "b": second_model},
                         'method = "passthrough"\nslices = [{ model = "a", layers = [0, 2] }, '
                         '{ model = "b", layers = [1, 2] }]')
    stacked = AutoModelForCausalLM.from_pretrained(merged.folder)
    assert stacked.config.num_hidden_layers == 3
    second = AutoModelForCausalLM.from_pretrained(second_model)
    top = stacked.model.layers[2].mlp.up_proj.weight
    assert (top == second.model.layers[1].mlp.up_proj.weight).all()  # layer 1 of b sits on top


def test_different_vocabularies_architectures_and_layer_ranges_are_named(tiny_model_dir, tmp_path_factory, cache):
    from tiny_model import build_tiny_model

    other_vocab = build_tiny_model(tmp_path_factory.mktemp("tiny-v") / "model", vocab_size=300)
    other_arch = tmp_path_factory.mktemp("tiny-arch") / "model"
    shutil.copytree(tiny_model_dir, other_arch)
    config = json.loads((other_arch / "config.json").read_text())
    (other_arch / "config.json").write_text(json.dumps({**config, "hidden_size": 96}))
    cases = [
        ({"b": other_vocab}, 'method = "linear"\nmodels = [{ model = "a" }, { model = "b" }]',
         "merge.toml: merge.models: 'b' has vocab_size = "),
        ({"b": other_arch}, 'method = "linear"\nmodels = [{ model = "a" }, { model = "b" }]',
         "merge.toml: merge.models: 'b' has hidden_size = 96 but 'a' has 64"),
        ({}, 'method = "passthrough"\nslices = [{ model = "a", layers = [0, 5] }]',
         "merge.toml: merge.slices[0].layers = [0, 5] is out of bounds: 'a' has 2 layers"),
        ({}, 'method = "average"\nmodels = [{ model = "a" }]', "merge.toml: merge.method = 'average'; choose one of"),
        ({}, 'method = "linear"\nmodels = [{ model = "a", wieght = 1 }]', "merge.toml: merge.models[0] needs `model`"),
        ({}, 'method = "slerp"\nmodels = [{ model = "a" }]', "merge.toml: merge.method = 'slerp' interpolates exactly"),
    ]
    for i, (extra, merge, message) in enumerate(cases):
        folder = tmp_path_factory.mktemp(f"case{i}")
        with pytest.raises(ConfigError, match=re.escape(message)):
            build(folder, {"a": tiny_model_dir, **extra}, merge)
    trained = cache / "trained"
    assert not trained.exists() or not any(trained.iterdir())  # nothing half-merged left behind


def test_mismatched_tokenizers_with_the_same_size_are_caught(tiny_model_dir, tmp_path_factory, cache):
    other = tmp_path_factory.mktemp("tiny-tok") / "model"
    shutil.copytree(tiny_model_dir, other)
    tokenizer = json.loads((other / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    first, second = list(vocab)[10:12]
    vocab[first], vocab[second] = vocab[second], vocab[first]  # same size, two tokens swapped
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(ConfigError, match="'b' and 'a' have different tokenizer vocabularies"):
        build(tmp_path_factory.mktemp("tok"), {"a": tiny_model_dir, "b": other},
              'method = "linear"\nmodels = [{ model = "a" }, { model = "b" }]')
