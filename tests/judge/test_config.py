"""Judge settings in evalkit.toml: [judges.NAME], suite judge keys, endpoint settings; errors say the fix."""

import pytest

from evalkit.errors import ConfigError
from evalkit.project import load_project

BASE = """
[project]
store = "store.db"
[models.base]
source = "some/model"
[models.remote]
source = "openai:gpt-4o"
concurrency = 8
timeout = 30
max_retries = 2
api_key_env = "MY_KEY"
"""


def config(tmp_path, extra):
    (tmp_path / "evalkit.toml").write_text(BASE + extra)
    return load_project(tmp_path / "evalkit.toml")


def test_judges_and_suite_keys(tmp_path):
    loaded = config(tmp_path, """
[judges.local]
prompt = "mtbench-pairwise"
model = "base"
method = "logprobs"
description = "weak"
[judges.api]
prompt = "mtbench-pairwise"
model = { source = "openai:gpt-4o-mini", api_key_env = "OPENAI_API_KEY", concurrency = 16 }
prompt_set = "mtbench"
[suites.default]
tasks = ["news"]
judge = "local"
prompt_set = "default"
prompt_limit = 5
""")
    local, api = loaded.judge("local"), loaded.judge("api")
    assert (local.method, local.model.name, local.description, local.prompt_set) == ("logprobs", "base", "weak", "default")
    assert (api.method, api.model.source, api.model.concurrency, api.model.name) == \
        ("generate", "openai:gpt-4o-mini", 16, "judge-api")
    assert "judge-api" not in loaded.models  # an inline judge model is not a candidate
    suite = loaded.suite("default")
    assert (suite.judges, suite.prompt_set, suite.prompt_limit) == (("local",), "default", 5)
    assert (local.position, local.tie_band) == ("strict", 0.0)  # MT-Bench's rule unless asked otherwise
    remote = loaded.model("remote")
    assert (remote.concurrency, remote.timeout, remote.max_retries, remote.api_key_env) == (8, 30, 2, "MY_KEY")


@pytest.mark.parametrize("extra, message", [
    ('[judges.j]\nprompt = "mtbench-pairwise"\nmodel = "nope"\n', "judges.j.model = 'nope' is not a model"),
    ('[judges.j]\nprompt = "mtbench-pairwise"\nmodel = "base"\nmethod = "vibes"\n', "judges.j.method = 'vibes'"),
    ('[judges.j]\nmodel = "base"\n', "judges.j.prompt must name a judge file"),
    ('[judges.j]\nprompt = "p"\nmodel = "base"\ntemperature = 0\n', "unknown key judges.j.temperature"),
    ('[judges.j]\nprompt = "p"\nmodel = "base"\nmethod = "reward"\ntie_margin = 0.7\n', "tie_margin = 0.7"),
    ('[suites.s]\ntasks = ["news"]\njudge = "missing"\n', "suites.s.judge names 'missing', which is not a judge"),
    ('[suites.s]\ntasks = ["news"]\njudge = ["missing"]\n', "suites.s.judge names 'missing'"),
    ('[suites.s]\ntasks = ["news"]\njudge = [1]\n', "suites.s.judge must be a judge name or a list of them"),
    ('[judges.j]\nprompt = "p"\nmodel = "base"\nposition = "loose"\n', "judges.j.position = 'loose'; choose one"),
    ('[judges.j]\nprompt = "p"\nmodel = "base"\nposition = "calibrated"\n', "needs verdict probabilities"),
    ('[judges.j]\nprompt = "p"\nmodel = "base"\nmethod = "logprobs"\ntie_band = 0.5\n', "tie_band = 0.5 must be"),
    ('[suites.s]\ntasks = ["news"]\nprompt_set = "default"\n', "prompt_set is set but no suites.s.judge"),
    ('[models.x]\nsource = "openai:m"\nconcurrency = 0\n', "models.x.concurrency = 0 is out of range"),
    ('[models.x]\nsource = "openai:m"\ntimeout = -1\n', "models.x.timeout = -1"),
    ('[models.x]\nsource = "openai:m"\napi_key_env = "sk-abc123"\n', "looks like a key itself"),
])
def test_mistakes_name_the_file_key_and_fix(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as err:
        config(tmp_path, extra)
    assert "evalkit.toml" in str(err.value)


def test_an_unknown_judge_lists_the_defined_ones(tmp_path):
    loaded = config(tmp_path, '[judges.local]\nprompt = "mtbench-pairwise"\nmodel = "base"\n')
    with pytest.raises(ConfigError, match="defines: local"):
        loaded.judge("other")


def test_a_suite_runs_several_judges_and_a_judge_can_be_calibrated(tmp_path):
    loaded = config(tmp_path, """
[judges.local]
prompt = "mtbench-pairwise"
model = "base"
method = "logprobs"
position = "calibrated"
tie_band = 0.05
[judges.rm]
prompt = "mtbench-pairwise"
model = { recipe = "recipes/reward.toml", parent = "base" }
method = "reward"
[suites.default]
tasks = ["news"]
judge = ["local", "rm"]
""")
    assert loaded.suite("default").judges == ("local", "rm")
    local, rm = loaded.judge("local"), loaded.judge("rm")
    assert (local.position, local.tie_band) == ("calibrated", 0.05)
    assert (rm.model.recipe, rm.model.parent, rm.model.name) == ("recipes/reward.toml", "base", "judge-rm")
