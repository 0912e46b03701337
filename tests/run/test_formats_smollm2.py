"""--formats on the real SmolLM2-135M and the MMLU sample pip brings: the letter format's picks collapse
onto one option, the cloze format's on the same items do not. Twelve items, so the test stays within
seconds of model time."""

import pytest

from evalkit.api import open_store
from evalkit.cli import main

LIMIT = 12


@pytest.mark.slow
def test_cloze_mmlu_does_not_collapse_where_letters_do(tmp_path):
    config = tmp_path / "evalkit.toml"
    config.write_text('[project]\nstore = "store.db"\nreports = "reports"\n\n[models.base]\n'
                      'source = "embedded:smollm2-135m-instruct"\ndtype = "float32"\nbatch_size = 16\n\n'
                      '[suites.default]\ntasks = ["mmlu"]\n[suites.default.options.mmlu]\n'
                      f'sources = ["package"]\nlimit = {LIMIT}\n')
    assert main(["--config", str(config), "run", "--models", "base", "--formats", "mc,cloze", "--quiet"]) == 0
    results = open_store(tmp_path / "store.db").results()
    samples = results.samples()
    picks = {task: set(group["score.chosen"]) for task, group in samples.groupby("task")}
    assert len(picks["mmlu"]) == 1 and len(picks["mmlu@cloze"]) >= 3, picks
    metrics, _ = results.formats()
    assert list(metrics["format"]) == ["mc", "cloze"] and (metrics["n"] == LIMIT).all()
    report = (tmp_path / "reports" / "leaderboard.md").read_text()
    assert "## Format sensitivity" in report and "| cloze | acc ↑ |" in report
