"""Rare vs common tokens on the leaderboard: for a perplexity task, each model's mean log-likelihood
per token in each token-frequency bucket (evalkit/kinds/token_frequency.py), with a 95% bootstrap
interval over documents, as a small table and a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.report.board import Board
from evalkit.report.format import fmt
from evalkit.report.plots import plot_token_frequency
from evalkit.scoring import stats
from evalkit.store import Store

FREQUENCY_COLUMNS = ["task", "model", "bucket", "value", "ci_low", "ci_high", "tokens", "documents"]
NOT_SPLIT = ("not available: its responses carry no per-token log-likelihoods (a backend that does not give "
             "them, or responses cached before evalkit kept them)")


def frequency_frame(store: Store, board: Board, tasks: list[str]) -> pd.DataFrame:
    """One row per task × model × bucket; a model whose records have no split has no rows."""
    seed = board.as_run()["provenance"].get("seed", 0)
    rows = []
    for task in tasks:
        for model in board.models:
            records = board.records(store, model, task)
            if not records or any("by_frequency" not in r["scores"] for r in records):
                continue
            for bucket in records[0]["scores"]["by_frequency"]:
                table = np.array([r["scores"]["by_frequency"][bucket] for r in records], dtype=float)
                estimate = stats.bootstrap_ci(table, _per_token, seed=seed, vectorized=True)
                rows.append({"task": task, "model": model, "bucket": bucket, "value": estimate.value,
                             "ci_low": estimate.ci_low, "ci_high": estimate.ci_high,
                             "tokens": int(table[:, 1].sum()), "documents": len(records)})
    return pd.DataFrame(rows, columns=FREQUENCY_COLUMNS)


def _per_token(table: np.ndarray) -> np.ndarray:
    # (..., documents, [summed log-likelihood, tokens]) -> mean log-likelihood per token, corpus-wide
    return table[..., 0].sum(axis=-1) / table[..., 1].sum(axis=-1)


def frequency_lines(frame: pd.DataFrame, task: str, models: list[str], reports_dir: Path) -> list[str]:
    mine = frame[frame["task"] == task]
    lines = [f"### {task}: rare vs common tokens", "",
             "Mean log-likelihood per token (nats; higher is better) [95% bootstrap interval over documents], by how "
             "often the token occurs in this task's documents; each bucket holds about a third of the tokens.", ""]
    if mine.empty:
        return lines + [f"Every model: {NOT_SPLIT}."]
    buckets = list(dict.fromkeys(mine["bucket"]))
    lines += ["| model | " + " | ".join(buckets) + " |", "|---|" + "---|" * len(buckets)]
    for model in models:
        rows = {r.bucket: r for r in mine[mine["model"] == model].itertuples(index=False)}
        if not rows:
            lines.append(f"| {model} | " + " | ".join([NOT_SPLIT] + [""] * (len(buckets) - 1)) + " |")
            continue
        cells = [_cell(rows[b]) if b in rows else "–" for b in buckets]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    path = plot_token_frequency(mine.to_dict("records"), reports_dir / f"token-frequency-{task}.png",
                                f"{task}: log-likelihood per token by token frequency")
    return lines + ["", f"![{task}: log-likelihood per token by token frequency]({path.name})"]


def _cell(row: Any) -> str:
    return f"{fmt(row.value)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}] ({row.tokens} tokens)"
