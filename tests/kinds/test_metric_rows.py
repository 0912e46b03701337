from evalkit.kinds import metric_rows
from evalkit.scoring import stats


def test_fraction_scores_keep_their_interval_inside_zero_one():
    values = [0.0, 0.0, 0.0, 0.0, 0.05, 1.95 / 2]  # MC2-like masses: the normal interval dips below 0
    assert stats.mean_ci(values).ci_low < 0
    row = metric_rows.mean_row("mc2", values)
    assert row["ci_low"] == 0.0 and row["ci_high"] < 1.0
    assert row["info"]["interval"] == metric_rows.CLIPPED_INTERVAL
    assert row["value"] == stats.mean_ci(values).value  # the estimate itself is untouched


def test_intervals_inside_the_range_and_unbounded_scores_are_left_alone():
    inside = metric_rows.mean_row("rougeL", [0.4, 0.5, 0.6, 0.5])
    assert inside["info"]["interval"] == metric_rows.MEAN_INTERVAL
    unbounded = metric_rows.mean_row("loglikelihood", [-3.0, -0.1, -7.5])
    assert unbounded["ci_low"] < -3.0 and unbounded["info"]["interval"] == metric_rows.MEAN_INTERVAL


def test_zero_one_scores_still_get_wilson():
    assert metric_rows.mean_row("acc", [1.0, 0.0, 0.0])["info"]["interval"] == metric_rows.WILSON_INTERVAL
