"""The benchmark task files added for the standard suite, end to end on the real SmolLM2-135M:
`evalkit run --tasks ...` on the data dir files, then the leaderboard rows (n, 95% interval) and the
report that the command writes. Few items each, so the test stays within seconds of model time."""

import re

import pytest

from evalkit.cli import main
from evalkit.store.db import Store

LIMIT = 4
# task -> its primary metric; one task per scoring path: options as continuations (ARC), the option
# in the context with the shared suffix scored (Winogrande), probability mass on true answers (MC2)
TASKS = {"arc_easy": "acc", "winogrande": "acc", "truthfulqa_mc2": "mc2"}


@pytest.mark.slow
def test_new_tasks_run_through_the_cli_with_n_and_an_interval(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    config = tmp_path / "evalkit.toml"
    config.write_text('[project]\nstore = "store.db"\nreports = "reports"\nseed = 1234\n\n[models.base]\n'
                      'source = "embedded:smollm2-135m-instruct"\ndtype = "float32"\nbatch_size = 16\n')
    assert main(["--config", str(config), "run", "--models", "base", "--tasks", ",".join(TASKS),
                 "--limit", str(LIMIT), "--quiet"]) == 0
    store = Store(tmp_path / "store.db")
    run = store.run()
    rows = {(r["task"], r["metric"]): r for r in store.results(run["id"])}
    samples = store.samples(run["id"])
    report = (tmp_path / "reports" / "leaderboard.md").read_text()
    for task, metric in TASKS.items():
        row = rows[(task, metric)]
        assert row["n"] == LIMIT and row["model"] == "base", row
        assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["ci_low"] < row["ci_high"], row
        if metric == "acc":  # Wilson's interval of a 0/1 score stays within [0, 1]
            assert 0.0 <= row["ci_low"] and row["ci_high"] <= 1.0, row
        records = [s for s in samples if s["task"] == task]
        assert len(records) == LIMIT  # every item scored, none dropped
        assert row["value"] == pytest.approx(sum(r["scores"][metric] for r in records) / LIMIT)
        # the leaderboard's main table: the task · metric column with its n, the cell value [interval]
        assert re.search(rf"{task} · {metric}[^|]*\(n={LIMIT}\)", report), report[:2000]
        assert f"{row['value']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]" in report
    winogrande = next(s for s in samples if s["task"] == "winogrande")
    assert len(winogrande["scores"]["loglikelihoods"]) == 2
