import re
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.train.recipe import load_recipe, parse_override

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_override_values_are_typed_toml_and_bare_words_are_strings():
    assert parse_override("train.learning_rate=1e-4") == (["train", "learning_rate"], 1e-4)
    assert parse_override("lora.r = 8") == (["lora", "r"], 8)
    assert parse_override("model.method=lora") == (["model", "method"], "lora")
    assert parse_override('lora.target_modules=["q_proj","v_proj"]') == (["lora", "target_modules"],
                                                                         ["q_proj", "v_proj"])
    assert parse_override("decontamination.drop=false") == (["decontamination", "drop"], False)


@pytest.mark.parametrize("bad", ["learning_rate", "=3", "train.=3", ".r=3"])
def test_malformed_override_says_the_expected_form(bad):
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        parse_override(bad)


def test_overrides_replace_recipe_values(tmp_path):
    recipe = load_recipe(RECIPES / "sft.toml", ["train.learning_rate=1e-4", "lora.r=4", "model.method=lora",
                                                 "train.max_steps=7"])
    assert (recipe.train.learning_rate, recipe.lora.r, recipe.model.method, recipe.train.max_steps) == (1e-4, 4, "lora", 7)
    untouched = load_recipe(RECIPES / "sft.toml")
    assert untouched.train.learning_rate != 1e-4 and untouched.settings() != recipe.settings()


@pytest.mark.parametrize("override, message", [
    ("train.learnin_rate=1", "unknown key train.learnin_rate"),
    ("trian.seed=1", "unknown section 'trian'"),
    ("lora.r=sixteen", "lora.r = 'sixteen' should be int"),
    ("model.method=int8", "model.method = 'int8'"),
    ("train.warmup_ratio=1.5", "warmup_ratio"),
])
def test_bad_overrides_name_the_key_and_the_fix(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_recipe(RECIPES / "sft.toml", [override])


def test_an_int_is_accepted_where_a_float_is_expected():
    assert load_recipe(RECIPES / "sft.toml", ["train.learning_rate=1"]).train.learning_rate == 1.0


@pytest.mark.parametrize("name", ["sft.toml", "dpo.toml", "orpo.toml", "reward.toml", "merge.toml", "pretrain.toml",
                                  "stack.toml", "distill.toml"])
def test_shipped_recipes_load_and_comment_every_setting(name):
    path = RECIPES / name
    recipe = load_recipe(path)
    assert recipe.stage == name.removesuffix(".toml")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if "=" in stripped and not stripped.startswith("#") and not stripped.startswith("]"):
            assert "#" in stripped, f"{path.name}:{number} has a setting without a comment: {stripped}"


def test_comments_do_not_change_the_settings_hash(tmp_path):
    text = (RECIPES / "sft.toml").read_text()
    edited = tmp_path / "sft.toml"
    edited.write_text(text.replace("# peak learning rate", "# the peak learning rate, edited"))
    assert load_recipe(edited).settings() == load_recipe(RECIPES / "sft.toml").settings()
