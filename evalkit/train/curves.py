"""The training loss curve as a PNG, from the trainer's log history (kept in the provenance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def loss_points(history: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    points = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    return [s for s, _ in points], [v for _, v in points]


def loss_curve(history: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    steps, losses = loss_points(history)
    if not steps:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    axes.plot(steps, losses, marker="o", markersize=3, linewidth=1.5)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
