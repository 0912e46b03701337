"""Rare vs common tokens on the leaderboard: a table of log-likelihood per token by frequency bucket,
with intervals, and its PNG; a model whose responses carry no per-token values says so."""

import pytest

from evalkit.errors import ConfigError
from evalkit.report import leaderboard as report
from evalkit.report.board import build
from evalkit.report.frequency_section import frequency_frame
from evalkit.store.db import Store

RARE, COMMON = "rare (count 1–2)", "common (count 9–40)"


def build_store(path, declared=("token_frequency",), kind="perplexity"):
    task = {"version": 1, "kind": kind, "file": "t.toml", "content_hash": "c", "options": {}, "n_samples": 5,
            "data_hash": "d", "data_origin": "docs.jsonl", "slices": list(declared)}
    info = {"seed": 1, "suite": "default", "models": {}, "tasks": {"toyppl": task}}
    store = Store(path)
    run_id = store.start_run({"models": ["base", "sft", "remote"], "suite": "default"}, info)
    for model, rare_nats in (("base", -6.0), ("sft", -4.0), ("remote", None)):
        records = []
        for i in range(5):
            scores = {"loglikelihood": -30.0 - i, "tokens": 12, "words": 8, "bytes": 40}
            if rare_nats is not None:  # 2 rare tokens and 10 common ones per document
                scores["by_frequency"] = {RARE: [2 * (rare_nats - 0.1 * i), 2], COMMON: [-10.0, 10]}
            records.append({"sample_id": f"d{i}", "prompt": "doc", "response": "", "target": "", "scores": scores})
        store.put_samples(run_id, model, "toyppl", records)
        store.put_results(run_id, model, "toyppl", [{"metric": "word_perplexity", "value": 9.0, "n": 5,
                                                     "info": {"higher_is_better": False}}])
    store.finish_run(run_id, info)
    return store, run_id


def test_the_frame_gives_each_bucket_its_per_token_mean_and_interval(tmp_path):
    store, run_id = build_store(tmp_path / "s.db")
    frame = frequency_frame(store, build(store, run_id), ["toyppl"])
    rare = frame[(frame.model == "sft") & (frame.bucket == RARE)].iloc[0]
    assert rare.value == pytest.approx(-4.2) and rare.ci_low < -4.2 < rare.ci_high
    assert (rare.tokens, rare.documents) == (10, 5)
    common = frame[(frame.model == "base") & (frame.bucket == COMMON)].iloc[0]
    assert common.value == pytest.approx(-1.0) and common.tokens == 50
    assert set(frame.model) == {"base", "sft"}  # remote has no per-token values


def test_the_leaderboard_shows_the_table_and_the_png(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build_store(tmp_path / "s.db")
    text = report.render(store, run_id, tmp_path)
    section = text.split("### toyppl: rare vs common tokens")[1].split("## All metrics")[0]
    assert f"| model | {RARE} | {COMMON} |" in section
    assert "| sft | -4.200 [" in section and "(10 tokens)" in section
    assert "| remote | not available: its responses carry no per-token log-likelihoods" in section
    png = tmp_path / "token-frequency-toyppl.png"
    assert "(token-frequency-toyppl.png)" in section and png.read_bytes()[:4] == b"\x89PNG"


def test_token_frequency_on_a_task_that_is_not_perplexity_is_one_line(tmp_path):
    store, run_id = build_store(tmp_path / "s.db", kind="choice")
    with pytest.raises(ConfigError, match=r"task 'toyppl': slices = \['token_frequency'\] needs kind = \"perplexity\""):
        report.render(store, run_id, tmp_path)
