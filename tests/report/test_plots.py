"""The rating plots write real PNG files, and importing them stays cheap."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalkit.ratings import Battle, Rating, pair_counts, rate, win_rate_matrix
from evalkit.report.plots import plot_ratings, plot_win_matrix

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[2]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def battles() -> list[Battle]:
    rng = np.random.default_rng(0)
    names = ["base", "sft", "dpo", "a-model-with-a-long-name"]
    outcomes = ["a", "b", "tie", "both_bad"]
    pairs = rng.integers(0, len(names), size=(400, 2))
    return [
        Battle(names[i], names[j], outcomes[rng.choice(4, p=[0.45, 0.35, 0.1, 0.1])])
        for i, j in pairs
        if i != j
    ]


def test_plot_ratings_writes_png(tmp_path, battles):
    path = plot_ratings(rate(battles, bootstrap_rounds=100), tmp_path / "plots" / "ratings.png")
    assert path.stat().st_size > 0
    width, height = png_size(path)
    assert width > 300 and height > 100


def test_plot_ratings_without_intervals(tmp_path, battles):
    ratings = rate(battles, bootstrap_rounds=0)
    assert math.isnan(ratings[0].ci_low)
    png_size(plot_ratings(ratings, tmp_path / "plain.png"))


def test_plot_ratings_grows_with_models(tmp_path):
    one = [Rating("x", 1000.0, 990.0, 1010.0, 1000.0, 1, 10)]
    many = [Rating(f"m{i}", 1000.0 + i, 990.0 + i, 1010.0 + i, 1000.0 + i, 1, 10) for i in range(12)]
    _, short = png_size(plot_ratings(one, tmp_path / "one.png"))
    _, tall = png_size(plot_ratings(many, tmp_path / "many.png"))
    assert tall > short
    with pytest.raises(ValueError, match="no ratings"):
        plot_ratings([], tmp_path / "none.png")


def test_plot_win_matrix_writes_png(tmp_path, battles):
    counts = pair_counts(battles)
    path = plot_win_matrix(win_rate_matrix(counts), counts.models, tmp_path / "win.png")
    assert path.stat().st_size > 0
    width, height = png_size(path)
    assert width > 300 and height > 300


def test_plot_win_matrix_checks_shape(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(2, 2\) does not match 3 models"):
        plot_win_matrix(np.full((2, 2), 0.5), ["x", "y", "z"], tmp_path / "bad.png")


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, evalkit.report.plots; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
