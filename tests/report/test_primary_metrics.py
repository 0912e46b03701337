"""The main table shows the metrics a task itself marks primary: a generation task scored by rougeL shows
rougeL, not the generate kind's default GSM8K columns as "not run"."""

from __future__ import annotations

import json

from evalkit.config import TaskOptions
from evalkit.report import leaderboard
from evalkit.store import Store
from evalkit.tasks.loading import load_task
from evalkit.types import Generation

TASK = """
name = "echo"
version = 1
kind = "generate"
scorers = ["rougeL"]

[[sources]]
kind = "file"
path = "echo.jsonl"

[generate]
prompt = "{{ instruction }}"
target = "{{ output }}"
"""
ROWS = [{"instruction": "Describe the sky.", "output": "The sky is blue."},
        {"instruction": "Name a fruit.", "output": "An apple is a fruit."}]


def test_a_rouge_scored_generation_task_shows_rougeL_in_the_main_table(tmp_path, monkeypatch):
    monkeypatch.setattr(leaderboard, "SECTIONS", [])  # the feature sections have their own tests
    (tmp_path / "echo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "echo.toml").write_text(TASK)
    task = load_task(str(tmp_path / "echo.toml"))
    samples = task.load_samples(TaskOptions())
    store = Store(tmp_path / "store.db")
    provenance = {"seed": 0, "tasks": {"echo": {"version": 1, "kind": "generate", "file": str(task.path),
                                                "content_hash": task.content_hash, "options": {}, "n_samples": 2,
                                                "data_hash": "x", "data_origin": "echo.jsonl"}}}
    run_id = store.start_run({"models": ["base", "sft"], "suite": "s"}, provenance)
    for model, texts in (("base", ["The sky.", "A pear."]), ("sft", ["The sky is blue.", "An apple."])):
        records, metrics = task.handler.score(task, samples, [[Generation(t, 3, "stop")] for t in texts], {"seed": 0})
        store.put_samples(run_id, model, "echo", records)
        store.put_results(run_id, model, "echo", metrics)
    store.finish_run(run_id, provenance)
    text = leaderboard.render(store, run_id, tmp_path)
    table = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    assert "echo · rougeL ↑ (n=2)" in table
    assert "gsm8k" not in table and "not run" not in table
