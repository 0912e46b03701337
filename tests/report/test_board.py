"""One leaderboard across suites: the latest finished result of each model × task, with its run."""

import os
from pathlib import Path

import pytest

from evalkit.report import board as boards
from evalkit.report import leaderboard as report
from evalkit.report.frames import adjusted_p_values
from evalkit.store.db import Store

GOLDEN = Path(__file__).parent / "golden" / "leaderboard_suites.md"


def task(n):
    return {"version": 1, "kind": "perplexity", "options": {}, "n_samples": n, "data_hash": "d", "data_origin": "x"}


def model(name):
    return {"fingerprint": f"fp-{name}", "folder": f"/m/{name}",
            "spec": {"source": f"/m/{name}", "recipe": None, "dtype": "float32", "quantization": "none"}}


def add_run(store, models, task_name, status="finished", finished=1700000000, value=10.0):
    provenance = {"evalkit": "0.1.0", "git": {"commit": "abc", "dirty": False}, "seed": 0, "suite": task_name,
                  "models": {m: model(m) for m in models}, "tasks": {task_name: task(3)}}
    run_id = store.start_run({"models": models, "suite": task_name}, provenance)
    for k, name in enumerate(models):
        records = [{"sample_id": f"d{i}", "prompt": f"document {i}", "response": "", "target": "",
                    "scores": {"loglikelihood": -30.0 - 4 * i + 2 * k * (i + 1), "tokens": 10, "words": 8,
                               "bytes": 40}} for i in range(3)]
        store.put_samples(run_id, name, task_name, records)
        store.put_results(run_id, name, task_name, [
            {"metric": "word_perplexity", "value": value - k, "n": 3, "ci_low": value - k - 1, "ci_high": value - k + 1,
             "info": {"higher_is_better": False, "interval": "bootstrap over documents"}}])
    if status == "finished":
        store.finish_run(run_id, provenance)
        store.db.execute("UPDATE runs SET started=?, finished=? WHERE id=?", (finished - 60, finished, run_id))
    return run_id


def build(path):
    store = Store(path)
    add_run(store, ["base", "sft", "dpo"], "toyppl", finished=1700000000)  # run 1: the comparison
    add_run(store, ["base"], "toywiki", finished=1700003600)  # run 2: another suite, base alone
    add_run(store, ["base"], "toyppl", status="running", value=99.0)  # run 3: unfinished, not shown
    return store


def test_a_second_suite_adds_columns_and_keeps_the_comparison(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    text = report.render(build(tmp_path / "s.db"), None, tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    assert "toyppl · word_perplexity ↓ (n=3, run 1)" in text and "toywiki · word_perplexity ↓ (n=3, run 2)" in text
    assert "| **sft** | 9.000 [8.000, 10.000] | not run |" in text
    assert "99.0" not in text  # the running run's numbers
    assert "sft − base" in text and "dpo − base" in text


def test_run_n_renders_that_run_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    text = report.render(build(tmp_path / "s.db"), 2, tmp_path)
    assert text.startswith("# evalkit leaderboard\n\nRun 2 ·") and "toyppl" not in text.split("## Provenance")[0]


def test_the_newest_finished_run_wins_per_model_and_task(tmp_path):
    store = build(tmp_path / "s.db")
    add_run(store, ["sft"], "toyppl", finished=1700007200, value=5.0)  # run 4: sft again
    board = boards.build(store)
    assert board.source[("sft", "toyppl")] == 4 and board.source[("base", "toyppl")] == 1
    assert board.models == ["base", "sft", "dpo"]
    text = report.render(store, None, tmp_path)
    assert "5.000 [4.000, 6.000] (run 4)" in text and "(n=3, runs 1/4)" in text


def test_a_missing_run_names_the_runs_there(tmp_path):
    store = build(tmp_path / "s.db")
    with pytest.raises(LookupError, match=r"no run 99 in the store; runs there: 1, 2, 3"):
        report.render(store, 99, tmp_path)


def test_benjamini_hochberg_adjusts_and_keeps_nan():
    adjusted = adjusted_p_values([0.01, 0.04, float("nan"), 0.03])
    assert adjusted[:2] + adjusted[3:] == pytest.approx([0.03, 0.04, 0.04])
    assert adjusted[2] != adjusted[2]


def test_p_at_the_bootstrap_floor_is_a_bound():
    assert report.p_text(0.001, 0.001) == "< 0.001"
    assert report.p_text(0.002, 0.001) == "0.002"
    assert report.p_text(0.003, 0.001, bound=True) == "≤ 0.003"
    assert report.p_text(0.0004, 0.0) == "0.0004"
