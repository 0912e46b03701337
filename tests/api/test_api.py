"""The Python API runs what `evalkit run` runs and returns the run as DataFrames."""

from __future__ import annotations

import math

import pytest

import evalkit
from evalkit.errors import EvalkitError
from project import write_project


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("api")
    config = write_project(root, tiny_model_dir)
    return evalkit.evaluate(models=["tiny", "tiny16"], tasks=["toyppl"], limit=6, config=config), config


def test_to_pandas_has_a_row_per_model_task_metric_with_intervals(results):
    results, _ = results
    frame = results.to_pandas()
    assert set(frame["model"]) == {"tiny", "tiny16"} and set(frame["task"]) == {"toyppl"}
    ppl = frame[(frame["model"] == "tiny") & (frame["metric"] == "word_perplexity")].iloc[0]
    assert ppl["n"] == 6 and ppl["ci_low"] <= ppl["value"] <= ppl["ci_high"] and not ppl["higher_is_better"]
    assert list(frame.columns[:8]) == ["model", "task", "metric", "value", "ci_low", "ci_high", "n", "unscored"]


def test_samples_are_one_row_per_item_and_model_with_their_scores(results):
    results, _ = results
    samples = results.samples()
    assert len(samples) == 12 and samples.groupby("model").size().to_dict() == {"tiny": 6, "tiny16": 6}
    assert (samples["score.tokens"] > 0).all() and samples["score.loglikelihood"].lt(0).all()


def test_compare_is_the_paired_difference_the_leaderboard_shows(results):
    results, _ = results
    diff = results.compare("tiny16", "tiny")
    row = diff[diff["metric"] == "word_perplexity"].iloc[0]
    by_model = results.to_pandas().set_index(["model", "metric"])["value"]
    expected = by_model[("tiny16", "word_perplexity")] - by_model[("tiny", "word_perplexity")]
    assert math.isclose(row["diff"], expected, rel_tol=1e-9, abs_tol=1e-9) and row["n"] == 6
    with pytest.raises(EvalkitError, match="has no model 'nope'"):
        results.compare("nope", "tiny")


def test_open_store_reads_the_same_run_back(results):
    results, config = results
    reader = evalkit.open_store(config.parent / "store.db")
    assert reader.runs()["status"].tolist()[-1] == "finished"
    again = reader.results()
    assert again.run_id == results.run_id
    assert again.to_pandas().equals(results.to_pandas())
    with pytest.raises(EvalkitError, match="no run 999 in .*runs there: 1"):
        reader.results(999)


def test_a_second_evaluate_of_the_same_thing_is_answered_from_the_cache(results):
    results, config = results
    again = evalkit.evaluate(models=["tiny", "tiny16"], tasks=["toyppl"], limit=6, config=config)
    assert again.run_id != results.run_id
    assert again.provenance["parallel"]["responses_by_rank"] == [0]
    assert again.to_pandas()["value"].tolist() == results.to_pandas()["value"].tolist()
