"""A task file's `slices`: a list of field names, checked when the task loads."""

import pytest

from evalkit.errors import ConfigError
from evalkit.tasks import load_task

TASK = 'name = "toy"\nversion = 1\nkind = "perplexity"\n{slices}\n[[sources]]\nkind = "file"\npath = "d.jsonl"\n' \
       '[perplexity]\ntext = "{{{{ text }}}}"\n'


@pytest.mark.parametrize("value", ['"subject"', "[1]", '[""]'])
def test_slices_that_are_not_a_list_of_names_are_one_line(tmp_path, value):
    path = tmp_path / "toy.toml"
    path.write_text(TASK.format(slices=f"slices = {value}"))
    with pytest.raises(ConfigError, match=r"toy.toml: `slices` must be a list of row field names"):
        load_task(str(path))


def test_declared_slices_load_with_the_task(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TASK.format(slices='slices = ["topic", "token_frequency"]'))
    assert load_task(str(path)).settings["slices"] == ["topic", "token_frequency"]
