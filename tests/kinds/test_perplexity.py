"""The perplexity kind's own settings reach the backend's requests."""

from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.kinds import KINDS
from evalkit.tasks.loading import Sample, Task


def task_with(**section):
    return Task("toyppl", 1, "perplexity", Path("toyppl.toml"), "", (), {"perplexity": {"text": "{{ text }}", **section}})


def test_stride_is_carried_by_every_rolling_request():
    kind, sample = KINDS["perplexity"], Sample("d0", {"text": "a document"}, "docs.jsonl:1")
    (strided,) = kind.requests(task_with(stride=128), sample, {})
    (plain,) = kind.requests(task_with(), sample, {})
    assert (strided.text, strided.stride, plain.stride) == ("a document", 128, None)


@pytest.mark.parametrize("stride", [0, -4, "long", 1.5])
def test_a_stride_that_is_not_a_positive_token_count_is_refused(stride):
    with pytest.raises(ConfigError, match=r"\[perplexity\]\.stride must be a positive number of tokens"):
        KINDS["perplexity"].validate(task_with(stride=stride))
