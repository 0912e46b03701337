"""A project: the evalkit.toml a command runs under, its names checked against the registries, and its store.

The config (evalkit/config.py) sits below the packages that register backends, judge methods and
position rules, so it reads those names as strings; opening the project here checks each against its
registry, with the same one-line error naming the file, the key and the choices, before any work starts.

    cli.py   `evalkit init`: writes the built-in default evalkit.toml to edit
"""

from __future__ import annotations

from evalkit.backends import check_backend
from evalkit.config import Config, load_config
from evalkit.judge.settings import check_judge
from evalkit.store import Store


def load_project(config_path) -> Config:
    """The config (./evalkit.toml or the built-in default when `config_path` is None), every registered name
    in it checked."""
    config = load_config(config_path)
    check_names(config)
    return config


def check_names(config: Config) -> None:
    for name, model in config.models.items():
        check_backend(model, f"{config.path}: models.{name}")
    for name, judge in config.judges.items():
        check_backend(judge.model, f"{config.path}: models.{judge.model.name}")
        check_judge(judge, f"{config.path}: judges.{name}")


def open_project(config_path) -> tuple[Config, Store]:
    """The config a command runs under and the store it names."""
    config = load_project(config_path)
    return config, Store(config.store)


__all__ = ["check_names", "load_project", "open_project"]
