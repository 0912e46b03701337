"""How a number is written on the leaderboard: significant digits by magnitude, its interval, unscored items."""

from __future__ import annotations

from typing import Any


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4f}"


def cell(result: dict[str, Any]) -> str:
    text = fmt(result["value"])
    if result.get("ci_low") is not None and result.get("ci_high") is not None:
        text += f" [{fmt(result['ci_low'])}, {fmt(result['ci_high'])}]"
    if result.get("unscored"):
        text += f" ⚠ {result['unscored']} unscored"
    return text
