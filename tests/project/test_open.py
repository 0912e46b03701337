"""Opening a project checks the names a registry holds (backends, judge methods, position rules) against
that registry itself: one registered from here is accepted with no other edit, an unknown one is one line."""

import pytest

from evalkit.backends import BACKENDS
from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.project import load_project, open_project

CONFIG = """
[models.base]
source = "some/model"
backend = "{backend}"
[judges.j]
prompt = "mtbench-pairwise"
model = "base"
method = "{method}"
[suites.default]
tasks = ["news"]
"""


def write(tmp_path, backend="hf", method="generate"):
    path = tmp_path / "evalkit.toml"
    path.write_text(CONFIG.format(backend=backend, method=method))
    return path


def test_a_backend_registered_here_is_a_valid_setting_and_unregistered_it_is_refused(tmp_path):
    path = write(tmp_path, backend="toy")
    BACKENDS["toy"] = lambda spec, folder: None
    try:
        assert load_project(path).models["base"].backend == "toy"
    finally:
        BACKENDS.pop("toy")
    with pytest.raises(ConfigError, match=r"evalkit.toml: models.base.backend = 'toy'; choose one of hf, vllm$"):
        load_project(path)


def test_the_config_alone_reads_structure_and_opening_the_project_checks_the_names(tmp_path):
    path = write(tmp_path, method="vibes")
    assert load_config(path).judges["j"].method == "vibes"  # below the registries: a string, unchecked
    with pytest.raises(ConfigError, match=r"judges.j.method = 'vibes'; choose one of generate, logprobs, reward$"):
        open_project(path)
    assert not (tmp_path / ".evalkit").exists()  # refused before the store is made


def test_a_name_that_is_not_a_string_is_a_structure_error(tmp_path):
    path = tmp_path / "evalkit.toml"
    path.write_text(CONFIG.format(backend="hf", method="generate").replace('method = "generate"', "method = 3"))
    with pytest.raises(ConfigError, match=r"judges.j.method must be str, got 3"):
        load_config(path)
