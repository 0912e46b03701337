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


def p_text(p: float, resolution: float = 0.0, bound: bool = False) -> str:
    """A p-value as the test can tell it: at a bootstrap's floor it is "< 1/rounds", not 1/rounds;
    a value computed from such a bound (an adjusted p) is an upper bound, "≤"."""
    if p != p:
        return "n/a"
    if resolution and p <= resolution:
        return f"< {resolution:g}"
    return ("≤ " if bound else "") + f"{p:.3g}"
