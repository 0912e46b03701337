"""The runner end to end on the tiny model: results, cache reuse, and resume after SIGKILL."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from project import DOCS, write_project

from evalkit import models as runner_models
from evalkit.config import load_config
from evalkit.progress.console import ConsoleUI
from evalkit.run import pipeline as runner
from evalkit.store.db import Store


def run_once(config_path, models=("tiny",)):
    config = load_config(config_path)
    store = Store(config.store)
    run_id = runner.run(config, list(models), "default", store, ConsoleUI(quiet=True))
    return store, run_id


def metric_values(store, run_id):
    return {(r["model"], r["task"], r["metric"]): (r["value"], r["n"], r["ci_low"], r["ci_high"])
            for r in store.results(run_id)}


def test_run_scores_every_document_and_records_provenance(tmp_path, tiny_model_dir):
    store, run_id = run_once(write_project(tmp_path, tiny_model_dir))
    results = metric_values(store, run_id)
    value, n, low, high = results[("tiny", "toyppl", "word_perplexity")]
    assert n == len(DOCS)
    assert low <= value <= high and value > 1
    run = store.run(run_id)
    assert run["status"] == "finished"
    info = run["provenance"]
    assert info["models"]["tiny"]["fingerprint"]
    assert info["tasks"]["toyppl"]["version"] == 1 and info["tasks"]["toyppl"]["n_samples"] == len(DOCS)
    assert info["packages"]["torch"].startswith("2.13")
    assert "git" in info and "timings_s" in info and info["seed"] == 7
    samples = store.samples(run_id, "tiny", "toyppl")
    assert [s["sample_id"] for s in samples] == [f"d{i}" for i in range(len(DOCS))]


def test_second_run_is_served_from_the_cache(tmp_path, tiny_model_dir, monkeypatch):
    config_path = write_project(tmp_path, tiny_model_dir)
    store, first = run_once(config_path)
    responses = store.count_responses()
    loads = []
    real = runner_models.ModelHandle.backend
    monkeypatch.setattr(runner_models.ModelHandle, "backend", lambda self: loads.append(1) or real(self))
    store2, second = run_once(config_path)
    assert loads == [], "a fully cached run must not even load the model"
    assert store2.count_responses() == responses
    assert metric_values(store2, second) == {k: v for k, v in metric_values(store, first).items()}


def test_dtype_changes_the_fingerprint_and_so_the_cache_key(tmp_path, tiny_model_dir):
    store, run_id = run_once(write_project(tmp_path, tiny_model_dir), models=("tiny", "tiny16"))
    models = store.run(run_id)["provenance"]["models"]
    assert models["tiny"]["fingerprint"] != models["tiny16"]["fingerprint"]
    assert store.count_responses() == 2 * len(DOCS)


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path, tiny_model_dir):
    many = 300  # enough one-document batches that the kill lands mid-run
    docs = tmp_path / "killed"
    config_path = write_project(docs, tiny_model_dir, batch_size=1)
    with (docs / "docs.jsonl").open("w") as handle:
        for i in range(many):
            handle.write(json.dumps({"id": f"d{i}", "text": DOCS[i % len(DOCS)] + f" Variant {i}."}) + "\n")
    command = [sys.executable, "-m", "evalkit", "--config", str(config_path), "run", "--models", "tiny", "--quiet"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = docs / "store.db"
    deadline = time.time() + 120
    count = 0
    while time.time() < deadline and child.poll() is None:
        if db.exists():
            try:
                count = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= 20:
                break
        time.sleep(0.05)
    assert child.poll() is None, f"the run finished before it could be killed: {child.stderr.read().decode()[-500:]}"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    kept = sqlite3.connect(db).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert 20 <= kept < many, f"{kept} responses survived the kill"
    killed_id = sqlite3.connect(db).execute("SELECT MAX(id) FROM runs").fetchone()[0]
    assert Store(db).run(killed_id)["status"] == "interrupted"  # its process is gone, so not `running`
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    store = Store(db)
    assert store.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # resumed under the same run
    assert store.run()["id"] == killed_id and store.run(killed_id)["status"] == "finished"
    rows = store.db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses").fetchone()
    assert rows == (many, many), "every document answered exactly once"
    resumed_run = store.run()
    # The same work, uninterrupted, in a separate store.
    fresh_config = write_project(tmp_path / "fresh", tiny_model_dir, batch_size=1)
    (tmp_path / "fresh" / "docs.jsonl").write_text((docs / "docs.jsonl").read_text())
    fresh_store, fresh_id = run_once(fresh_config)
    assert metric_values(store, resumed_run["id"]) == metric_values(fresh_store, fresh_id)
