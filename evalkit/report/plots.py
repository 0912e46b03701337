"""PNG plots of ratings, win rates and per-token log-likelihoods by token frequency for the report.

matplotlib is imported inside each function, so importing evalkit stays
fast. Figures are built with the object API on an Agg canvas (no display
needed) rather than through pyplot, so plotting neither switches a caller's
backend nor leaks figures into pyplot's global list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evalkit.ratings import Rating


def plot_ratings(ratings: Sequence[Rating], path: str | Path, title: str = "Ratings") -> Path:
    """One row per model, best on top: the rating as a point, its 95%
    bootstrap interval as a bar (no bar when the interval is NaN)."""
    if not ratings:
        raise ValueError("no ratings to plot; rate at least one battle first")
    ordered = sorted(ratings, key=lambda r: (-r.rating, r.model))
    labels = [f"{r.model}  (#{r.rank}, n={r.n_battles})" for r in ordered]
    points = np.array([r.rating for r in ordered])
    low = np.array([r.ci_low for r in ordered])
    high = np.array([r.ci_high for r in ordered])
    # NaN intervals (no bootstrap) draw no bar rather than failing.
    errors = np.nan_to_num(np.vstack([points - low, high - points]), nan=0.0)
    y = np.arange(len(ordered))[::-1]
    fig, ax = _figure(figsize=(7.5, 1.2 + 0.45 * len(ordered)))
    ax.errorbar(points, y, xerr=errors, fmt="o", color="tab:blue", ecolor="tab:gray",
                elinewidth=2, capsize=4)  # fmt: skip
    ax.set_yticks(y, labels)
    ax.set_xlabel("rating (95% bootstrap interval)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(y=0.5 / max(1, len(ordered)))
    return _save(fig, path)


def plot_win_matrix(
    matrix: np.ndarray, models: Sequence[str], path: str | Path, title: str = "Win rate (row vs column)"
) -> Path:
    """Heatmap of M[i, j] = win rate of row model i against column model j,
    with the percentage written in each cell; NaN cells (the diagonal,
    pairs never compared) stay blank."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(models), len(models)):
        raise ValueError(
            f"win matrix shape {matrix.shape} does not match {len(models)} models {list(models)}"
        )
    size = 1.5 + 0.7 * len(models)
    fig, ax = _figure(figsize=(size + 1.5, size))
    ax.set_facecolor("#e6e6e6")  # NaN cells: diagonal, pairs never compared
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(models))
    ax.set_xticks(ticks, models, rotation=45, ha="right")
    ax.set_yticks(ticks, models)
    ax.set_xlabel("opponent")
    ax.set_ylabel("model")
    ax.set_title(title)
    _write_cells(ax, matrix)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="win rate")
    return _save(fig, path)


def plot_token_frequency(rows: Sequence[dict], path: str | Path, title: str) -> Path:
    """Mean per-token log-likelihood per token-frequency bucket (rarest on the left), one line of points
    per model with its 95% bootstrap interval; rows: model, bucket, value, ci_low, ci_high (buckets in
    the order given)."""
    if not rows:
        raise ValueError("no token-frequency rows to plot; a perplexity task scored with per-token log-likelihoods")
    buckets = list(dict.fromkeys(r["bucket"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, ax = _figure(figsize=(1.8 + 1.6 * len(buckets), 3.6))
    width = 0.6 / max(1, len(models))
    for k, model in enumerate(models):
        mine = {r["bucket"]: r for r in rows if r["model"] == model}
        x = np.array([i for i, b in enumerate(buckets) if b in mine]) + (k - (len(models) - 1) / 2) * width
        points = np.array([mine[b]["value"] for b in buckets if b in mine])
        low = np.array([mine[b]["ci_low"] for b in buckets if b in mine], dtype=float)
        high = np.array([mine[b]["ci_high"] for b in buckets if b in mine], dtype=float)
        errors = np.nan_to_num(np.vstack([points - low, high - points]), nan=0.0)
        ax.errorbar(x, points, yerr=errors, fmt="o", capsize=4, label=model)
    ax.set_xticks(np.arange(len(buckets)), buckets)
    ax.set_ylabel("log-likelihood per token (nats)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _write_cells(ax, matrix: np.ndarray) -> None:
    for (i, j), value in np.ndenumerate(matrix):
        if math.isnan(value):
            continue
        # Dark text on the pale middle of the colormap, white on its ends.
        colour = "white" if abs(value - 0.5) > 0.3 else "black"
        ax.text(j, i, f"{value:.0%}", ha="center", va="center", color=colour, fontsize=9)


def _figure(figsize: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    return path
