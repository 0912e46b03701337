import pytest

from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.project import load_project


def write(tmp_path, text):
    path = tmp_path / "evalkit.toml"
    path.write_text(text)
    return path


GOOD = '[models.base]\nsource = "somewhere"\n[suites.default]\ntasks = ["news"]\n'


def test_good_config_loads_with_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.models["base"].dtype == "float32"
    assert config.suites["default"].tasks == ("news",)
    assert config.store == tmp_path / ".evalkit" / "evalkit.db"


@pytest.mark.parametrize("text, expected", [
    ("[models.base\nsource = 1", "not valid TOML"),
    (GOOD + "[models.x]\nsource = 'a'\ndtype = 'float8'\n", "models.x.dtype = 'float8'"),
    (GOOD + "[models.x]\nsource = 'a'\nbackend = 'tgi'\n", "models.x.backend = 'tgi'; choose one of hf, vllm"),
    (GOOD + "[models.x]\nsource = 'a'\nbatch_size = 0\n", "models.x.batch_size = 0 is out of range"),
    (GOOD + "[models.x]\nsource = 'a'\nbatchsize = 4\n", "unknown key models.x.batchsize"),
    (GOOD + "[models.x]\ndtype = 'float32'\n", "models.x needs `source`"),
    (GOOD + "[models.x]\nrecipe = 'r.toml'\nparent = 'nope'\n", "parent = 'nope'"),
    (GOOD + "[suites.s]\ntasks = []\n", "suites.s.tasks must be a non-empty list"),
    (GOOD + "[suites.s]\ntasks = ['a']\n[suites.s.options.b]\nlimit = 3\n", "'b' is not in suites.s.tasks"),
    (GOOD + "[suites.s]\ntasks = ['a']\n[suites.s.options.a]\nlimit = -3\n", "limit = -3 is out of range"),
    (GOOD + "[suites.s]\ntasks = ['a']\n[suites.s.options.a]\nnum_fewshot = 99\n", "num_fewshot = 99 is out of range"),
    ("[project]\nseed = 'x'\n" + GOOD, "project.seed must be int"),
])
def test_bad_config_names_key_and_fix(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load_project(write(tmp_path, text))  # the names a registry holds (a backend) are checked on opening
    assert expected in str(err.value)
    assert "evalkit.toml" in str(err.value)


def test_unknown_model_lists_known_ones(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="unknown model 'sft'.*defines: base"):
        config.model("sft")


def test_missing_config_file_says_how(tmp_path):
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "nope.toml")


def test_the_shipped_models_describe_the_method_their_recipe_runs():
    """A description that says QLoRA beside a recipe that trains LoRA misleads the leaderboard's reader."""
    import re

    from evalkit.config import builtin_config, read_toml

    config = load_config(builtin_config())
    for name, spec in config.models.items():
        if not spec.recipe:
            continue
        method = read_toml(config.find(spec.recipe))[0]["model"]["method"]
        named = {m.lower() for m in re.findall(r"\b(QLoRA|LoRA|full fine-tuning)\b", spec.description, re.I)}
        assert named <= {method}, f"{name}: description {spec.description!r}, recipe method {method!r}"
