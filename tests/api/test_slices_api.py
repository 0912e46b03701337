"""The Python API's slice frames are the leaderboard's: per-slice metrics and per-slice comparisons."""

from __future__ import annotations

import math

from project import write_project

import evalkit


def test_results_slices_give_per_slice_metrics_and_comparisons(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir, n_docs=8)
    results = evalkit.evaluate(models=["tiny", "tiny16"], tasks=["toyppl"], config=config, slice_by="prompt_length")
    metrics, compared = results.slices()  # the run's --slice-by is recorded with its tasks
    assert set(metrics.columns) >= {"task", "field", "slice", "model", "metric", "value", "ci_low", "ci_high", "n"}
    assert set(metrics["field"]) == {"prompt_length"} and set(metrics["model"]) == {"tiny", "tiny16"}
    per_model = metrics[metrics.model == "tiny"]
    assert per_model["n"].sum() == 8 and len(per_model) == 3  # three length buckets cover the 8 documents
    assert all(low <= value <= high for value, low, high in zip(metrics.value, metrics.ci_low, metrics.ci_high))
    assert set(compared["model_a"] + "−" + compared["model_b"]) == {"tiny16−tiny"}
    assert compared["n"].sum() == 8 and not any(math.isnan(p) for p in compared["p_adjusted"])
    assert "## Slices" in results.leaderboard(tmp_path / "reports").read_text(encoding="utf-8")
