"""`--slice-by` on `run` and `report` with the tiny model: row fields are stored with each record,
the leaderboard gains a Slices section, and a field some rows lack is one line before any model runs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from project import DOCS, write_project

from evalkit.run.command import RunRequest, run_request


def write_topics(root, every_row: bool = True) -> None:
    """The project's documents, each with a topic (the first one without, when not every_row)."""
    with (root / "docs.jsonl").open("w") as handle:
        for i, text in enumerate(DOCS[:12]):
            row = {"id": f"d{i}", "text": text} | ({"topic": "fox" if i % 4 else "numbers"} if every_row or i else {})
            handle.write(json.dumps(row) + "\n")


def evalkit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_run_slice_by_stores_row_fields_and_slices_the_leaderboard(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    write_topics(tmp_path)
    _, store, run_id, _ = run_request(RunRequest(config=config, models="tiny,tiny16", slice_by="topic,token_frequency",
                                                 quiet=True))
    records = store.samples(run_id, "tiny", "toyppl")
    assert len(records) == 12 and records[1]["fields"] == {"id": "d1", "topic": "fox"}
    assert store.run(run_id)["provenance"]["tasks"]["toyppl"]["slices"] == ["topic", "token_frequency"]
    split = records[0]["scores"]["by_frequency"]  # the hf backend's per-token log-likelihoods, by bucket
    assert sum(ll for ll, _ in split.values()) == pytest.approx(records[0]["scores"]["loglikelihood"], abs=1e-3)
    assert sum(n for _, n in split.values()) == records[0]["scores"]["tokens"]
    from evalkit.report import leaderboard  # the report of the run, as `evalkit run` writes it

    text = leaderboard.render(store, run_id, tmp_path / "reports")
    section = text.split("## Slices")[1].split("## All metrics")[0]
    assert "### toyppl by topic" in section
    assert "| fox | 9 |" in section and "| numbers | 3 |" in section
    assert "tiny16 − tiny" in section and "paired bootstrap" in section
    assert "### toyppl: rare vs common tokens" in section and (tmp_path / "reports" / "token-frequency-toyppl.png").is_file()
    # the report can slice the same run by a derived length without rerunning anything
    result = evalkit("--config", str(config), "report", "--slice-by", "prompt_length", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    board = (tmp_path / "reports" / "leaderboard.md").read_text(encoding="utf-8")
    assert "### toyppl by topic" in board and "### toyppl by prompt_length" in board


def test_a_field_some_rows_lack_stops_the_run_before_any_model_loads(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    write_topics(tmp_path, every_row=False)
    result = evalkit("--config", str(config), "run", "--models", "tiny", "--slice-by", "topic", "--quiet",
                     cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    message = " ".join(result.stderr.split())
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "task 'toyppl': slice field 'topic' is missing from 1 of 12 rows" in message
    assert "fields every row has: id, prompt_length, answer_length" in message
    assert sqlite3.connect(tmp_path / "store.db").execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0
