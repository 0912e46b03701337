"""Slices on the leaderboard: per-slice metrics with n and interval, paired comparisons per slice with
reversals marked, equal-count length buckets, and one clear line for a field some rows lack."""

import pytest

from evalkit.errors import ConfigError
from evalkit.report import leaderboard as report
from evalkit.report import slices
from evalkit.report.board import build
from evalkit.report.slice_frames import plan, slice_comparisons, slice_results
from evalkit.store.db import Store

# sft is better over all items (28/40 vs 16/40) but worse on subject b (4/10 vs 7/10)
RIGHT = {("base", "a"): 9, ("sft", "a"): 24, ("base", "b"): 7, ("sft", "b"): 4}
SIZES = {"a": 30, "b": 10}


def provenance(slices_declared=()):
    task = {"version": 1, "kind": "choice", "file": "tasks/toymc.toml", "content_hash": "abc", "options": {},
            "n_samples": 40, "data_hash": "d4t4", "data_origin": "mc.jsonl"}
    if slices_declared:
        task["slices"] = list(slices_declared)
    return {"seed": 3, "suite": "default", "models": {}, "tasks": {"toymc": task}}


def build_store(path, declared=(), fields=lambda i, subject: {"subject": subject, "level": i % 2}):
    store = Store(path)
    run_id = store.start_run({"models": ["base", "sft"], "suite": "default"}, provenance(declared))
    for model in ("base", "sft"):
        records, item = [], 0
        for subject, size in SIZES.items():
            for i in range(size):
                correct = 1.0 if i < RIGHT[(model, subject)] else 0.0
                records.append({"sample_id": f"q{item}", "prompt": "word " * (item + 1), "response": "A",
                                "target": "A", "scores": {"acc": correct}, "fields": fields(item, subject)})
                item += 1
        acc = sum(r["scores"]["acc"] for r in records) / len(records)
        store.put_samples(run_id, model, "toymc", records)
        store.put_results(run_id, model, "toymc", [{"metric": "acc", "value": acc, "n": 40, "ci_low": acc - 0.1,
                                                    "ci_high": acc + 0.1, "info": {"primary": True}}])
    store.finish_run(run_id, provenance(declared))
    return store, run_id


def test_per_slice_metrics_and_comparisons_flag_the_reversed_slice(tmp_path):
    store, run_id = build_store(tmp_path / "s.db")
    board = build(store, run_id)
    chosen = plan(store, board, {"toymc": ["acc"]}, ["subject"]).parts
    results = slice_results(store, board, chosen)
    b_sft = results[(results.slice == "b") & (results.model == "sft")].iloc[0]
    assert (b_sft.value, b_sft.n) == (0.4, 10) and b_sft.ci_low < 0.4 < b_sft.ci_high  # Wilson, as overall
    compared = slice_comparisons(store, board, chosen, [("sft", "base")])
    by_slice = {row.slice: row for row in compared.itertuples()}
    assert by_slice["a"].diff == pytest.approx(0.5) and not by_slice["a"].reverses
    assert by_slice["b"].diff == pytest.approx(-0.3) and by_slice["b"].reverses
    assert by_slice["b"].overall_diff == pytest.approx(0.3) and by_slice["b"].test.startswith("mcnemar")


def test_the_leaderboard_shows_slices_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build_store(tmp_path / "s.db")
    plain = report.render(store, run_id, tmp_path)
    assert "## Slices" not in plain
    text = report.render(store, run_id, tmp_path, slice_by=["subject"])
    assert text.startswith(plain.split("## All metrics")[0].rstrip())  # the rest of the page is unchanged
    section = text.split("## Slices")[1].split("## All metrics")[0]
    assert "### toymc by subject" in section
    assert "| b | 10 | 0.7000 [" in section  # base on subject b with its interval
    assert section.count("⚠ reverses |") == 1 and "| b | acc | sft − base | -0.3000 [" in section


def test_a_task_declaring_slices_shows_them_without_the_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build_store(tmp_path / "s.db", declared=["level"])
    text = report.render(store, run_id, tmp_path)
    assert "### toymc by level" in text and "| 0 | 20 |" in text and "| 1 | 20 |" in text


def test_lengths_are_cut_into_equal_count_buckets_named_by_their_range(tmp_path):
    store, run_id = build_store(tmp_path / "s.db")
    board = build(store, run_id)
    [part] = plan(store, board, {"toymc": ["acc"]}, ["prompt_length"]).parts
    assert part.slicing.order == ["1–14", "15–27", "28–40"]  # prompts of 1..40 words
    assert [list(part.slicing.label.values()).count(name) for name in part.slicing.order] == [14, 13, 13]


def test_a_field_some_rows_lack_is_one_line_naming_task_field_and_fix(tmp_path):
    store, run_id = build_store(tmp_path / "s.db", fields=lambda i, s: {"level": 1} | ({"subject": s} if i else {}))
    with pytest.raises(ConfigError) as err:
        report.render(store, run_id, tmp_path, slice_by=["subject"])
    message = str(err.value)
    assert "\n" not in message
    assert "task 'toymc'" in message and "'subject' is missing from 1 of 40 rows" in message
    assert "fields every row has: level, prompt_length, answer_length" in message
    assert not (tmp_path / "leaderboard.md").exists()
    with pytest.raises(ConfigError, match=r"no task has a field 'topic'; fields by task: toymc: level"):
        report.render(store, run_id, tmp_path, slice_by=["topic"])


def test_records_stored_without_row_fields_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build_store(tmp_path / "s.db", declared=["subject"], fields=lambda i, s: {})
    with pytest.raises(ConfigError, match=r"stored without row fields.*rerun the same `evalkit run`"):
        report.render(store, run_id, tmp_path, slice_by=["subject"])
    # declared by the task but not asked: the page renders, and the section says what is missing and why
    text = report.render(store, run_id, tmp_path)
    assert "- ⚠ task 'toymc' (run 1): its records were stored without row fields" in text
    assert "## All metrics" in text


def test_row_fields_keep_short_scalars_only():
    row = {"subject": "anatomy", "answer": 2, "question": "x" * 500, "choices": ["a", "b"], "_file": "f.csv"}
    assert slices.row_fields(row) == {"subject": "anatomy", "answer": 2}
