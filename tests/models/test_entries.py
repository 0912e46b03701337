"""--models entries: configured names, or sources named after their last path part, with :key=value settings."""

import re

import pytest
from project import write_project

from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.models.entries import entry_name, select_models, split_settings


def test_settings_follow_the_source_as_key_value_parts():
    assert split_settings("./m:dtype=bfloat16:batch_size=8") == ("./m", {"dtype": "bfloat16", "batch_size": 8})
    assert split_settings("openai:gpt-4o-mini") == ("openai:gpt-4o-mini", {})
    assert split_settings("http://localhost:8000/v1:max_length=2048") == ("http://localhost:8000/v1",
                                                                          {"max_length": 2048})
    assert split_settings("openai:m:base_url=http://host:8000/v1") == ("openai:m", {"base_url": "http://host:8000/v1"})


@pytest.mark.parametrize("source, name", [("./out/checkpoint-500", "checkpoint-500"), ("/m/model.gguf", "model"),
                                          ("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct"),
                                          ("openai:gpt-4o-mini", "gpt-4o-mini"), ("out/", "out"),
                                          ("embedded:smollm2-135m-instruct", "smollm2-135m-instruct")])
def test_a_source_is_named_after_its_last_path_part(source, name):
    assert entry_name(source) == name


def test_configured_names_and_sources_mix_and_overrides_apply_to_all(tmp_path, tiny_model_dir):
    config = load_config(write_project(tmp_path, tiny_model_dir))
    config, names = select_models(config, f"tiny,{tiny_model_dir}:dtype=bfloat16:name=mine,org/model",
                                  {"batch_size": 2, "dtype": None, "device": "cpu"})
    assert names == ["tiny", "mine", "model"]
    assert config.models["mine"].source == str(tiny_model_dir) and config.models["mine"].dtype == "bfloat16"
    assert config.models["model"].source == "org/model"  # a hub id, resolved (or refused offline) when it runs
    assert all(config.models[n].batch_size == 2 and config.models[n].device == "cpu" for n in names)
    assert config.models["tiny16"].batch_size == 4  # not selected: untouched


def test_an_entry_that_is_nothing_says_what_was_tried(tmp_path, tiny_model_dir):
    config = load_config(write_project(tmp_path, tiny_model_dir))
    with pytest.raises(ConfigError, match=r"unknown model 'nothere'.*not a model of .*not an existing folder.*"
                                          r"not a hub id"):
        select_models(config, "nothere")


@pytest.mark.parametrize("entry", ["./nothere", "../models/ckpt", "/no/such/model", "runs/a/checkpoint-9", "x.gguf"])
def test_a_missing_path_is_named_as_a_path_not_as_a_model_name(tmp_path, tiny_model_dir, entry):
    config = load_config(write_project(tmp_path, tiny_model_dir))
    with pytest.raises(ConfigError, match=rf"--models {re.escape(entry)}: no folder or .gguf file at .*check the path"):
        select_models(config, entry)


def test_a_bad_setting_names_the_entry_and_the_key(tmp_path, tiny_model_dir):
    config = load_config(write_project(tmp_path, tiny_model_dir))
    with pytest.raises(ConfigError, match=r"--models .*dtype = 'float8'; choose one of"):
        select_models(config, f"{tiny_model_dir}:dtype=float8")
    with pytest.raises(ConfigError, match=r"unknown key models.model.batchsize; did you mean models.model.batch_size"):
        select_models(config, f"{tiny_model_dir}:batchsize=2")
    with pytest.raises(ConfigError, match=r"--models .*: models.mine.backend = 'tgi'; choose one of hf, vllm$"):
        select_models(config, f"{tiny_model_dir}:backend=tgi:name=mine")  # checked against the backends' registry


def test_a_missing_checkpoint_beside_its_folder_is_not_read_as_a_hub_id(tmp_path):
    from evalkit.config import ModelSpec
    from evalkit.errors import ModelError
    from evalkit.models.sources import resolve

    (tmp_path / "out").mkdir()
    with pytest.raises(ModelError, match=r"folder .*out/checkpoint-500 not found \(its parent .*out exists\)"):
        resolve(ModelSpec(name="ckpt", source="out/checkpoint-500"), tmp_path)


def test_a_typo_of_a_configured_model_says_which_one_was_meant(tmp_path, tiny_model_dir):
    from evalkit.config import builtin_config

    config = load_config(builtin_config())
    with pytest.raises(ConfigError, match=r"unknown model 'bsae' in --models; did you mean base\?"):
        select_models(config, "bsae")
    with pytest.raises(ConfigError, match=r"did you mean base\?"):
        config.model("bsae")
