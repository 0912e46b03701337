"""The Format sensitivity section from a store: a model ahead in one format and behind in another is
flagged, the spread is the highest minus the lowest value, and the variants stay out of the main table."""

from evalkit.report import leaderboard
from evalkit.report.board import build
from evalkit.report.format_frames import format_comparisons, format_results, plan
from evalkit.store.db import Store

# 40 items; sft is ahead of base in letter choice (30 vs 10 right) and behind in cloze (12 vs 28 right)
RIGHT = {("base", "quiz"): 10, ("sft", "quiz"): 30, ("base", "quiz@cloze"): 28, ("sft", "quiz@cloze"): 12}
N = 40


def task_info(**extra):
    return {"version": 1, "kind": "choice", "file": "tasks/quiz.toml", "content_hash": "abc", "options": {},
            "n_samples": N, "data_hash": "d4t4", "data_origin": "quiz.jsonl", **extra}


def provenance():
    rows = {"rows": {"mc": "quiz", "cloze": "quiz@cloze"}, "skipped": {"chat": "no chat template here"}}
    return {"seed": 3, "suite": "default", "models": {},
            "tasks": {"quiz": task_info(formats=rows), "quiz@cloze": task_info(format="cloze", format_of="quiz")}}


def build_store(path):
    store = Store(path)
    run_id = store.start_run({"models": ["base", "sft"], "suite": "default"}, provenance())
    for (model, task), right in RIGHT.items():
        records = [{"sample_id": f"q{i}", "prompt": "p", "response": "A", "target": "A",
                    "scores": {"acc": 1.0 if i < right else 0.0}} for i in range(N)]
        store.put_samples(run_id, model, task, records)
        store.put_results(run_id, model, task, [{"metric": "acc", "value": right / N, "n": N, "ci_low": right / N - 0.1,
                                                 "ci_high": right / N + 0.1, "info": {"primary": True}}])
    store.finish_run(run_id, provenance())
    return store, run_id


def test_a_pair_ahead_in_one_format_and_behind_in_another_is_flagged(tmp_path):
    store, run_id = build_store(tmp_path / "s.db")
    board = build(store, run_id)
    parts = plan(board)
    assert [(p.task, p.rows, p.skipped) for p in parts] == [
        ("quiz", {"mc": "quiz", "cloze": "quiz@cloze"}, {"chat": "no chat template here"})]
    metrics = format_results(board, parts)
    sft = metrics[metrics["model"] == "sft"].set_index("format")
    assert sft.loc["mc", "value"] == 0.75 and sft.loc["cloze", "value"] == 0.3
    assert sft["spread"].tolist() == [0.45, 0.45]
    compared = format_comparisons(store, board, parts, [("sft", "base")]).set_index("format")
    assert compared.loc["mc", "diff"] == 0.5 and compared.loc["cloze", "diff"] == -0.4
    assert compared["sign_depends"].all() and (compared["p_adjusted"] < 0.05).all()
    text = leaderboard.render(store, run_id, tmp_path / "reports")
    main = text.split("## Results")[1].split("## ")[0]
    assert "quiz · acc" in main and "quiz@cloze" not in main
    section = text.split("## Format sensitivity")[1].split("## All metrics")[0]
    assert "| mc (as defined) | acc ↑ | 0.2500 [0.1500, 0.3500] (n=40) | 0.7500 [0.6500, 0.8500] (n=40) |" in section
    assert "| spread (max − min) | | 0.4500 | 0.4500 |" in section
    assert "| cloze | acc | sft − base | -0.4000" in section and "⚠ sign depends on format" in section
    assert "- ⚠ sft vs base: sft is ahead in mc and behind in cloze" in section
    assert "- not run: chat (no chat template here)" in section


def test_a_board_without_formats_has_no_section(tmp_path):
    store = Store(tmp_path / "s.db")
    info = {"seed": 1, "suite": "default", "models": {}, "tasks": {"quiz": task_info()}}
    run_id = store.start_run({"models": ["base"], "suite": "default"}, info)
    store.put_results(run_id, "base", "quiz", [{"metric": "acc", "value": 0.5, "n": N, "info": {"primary": True}}])
    store.finish_run(run_id, info)
    assert "Format sensitivity" not in leaderboard.render(store, run_id, tmp_path / "reports")
