"""A [judges.NAME] table's method and position rule, checked against the registries that run them
(methods.METHODS, calibration.RULES), so a config names exactly what is registered."""

from __future__ import annotations

from evalkit.config import JudgeConfig
from evalkit.errors import ConfigError
from evalkit.judge.calibration import DEFAULT_RULE, RULES
from evalkit.judge.methods import METHODS


def check_judge(judge: JudgeConfig, where: str) -> None:
    """`where` ("evalkit.toml: judges.x") names the table in the error."""
    if judge.method not in METHODS:
        raise ConfigError(f"{where}.method = {judge.method!r}; choose one of {', '.join(METHODS)}")
    if judge.position not in RULES:
        raise ConfigError(f"{where}.position = {judge.position!r}; choose one of {', '.join(RULES)}")
    if RULES[judge.position].needs_probabilities and not METHODS[judge.method].gives_probabilities:
        giving = [name for name, method in METHODS.items() if method.gives_probabilities]
        raise ConfigError(f"{where}.position = {judge.position!r} needs verdict probabilities, which method "
                          f"{judge.method!r} does not give; use method = " + " or ".join(f'"{m}"' for m in giving)
                          + f", or position = \"{DEFAULT_RULE}\"")
