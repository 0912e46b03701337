"""Command-line settings that override a suite for one run: --tasks, --limit, --num-fewshot, --seed.

`--tasks` replaces the suite's task list (built-in or project task names, or task files by path);
`--limit` and `--num-fewshot` apply to every task of the run and win over the suite's options. What
was overridden is said once on the terminal and recorded in the run's provenance.
"""

from __future__ import annotations

from dataclasses import replace

from evalkit.config import Config, Suite, TaskOptions, split_names
from evalkit.errors import ConfigError

COMMAND_LINE_SUITE = "command-line"


def check_counts(limit: int | None, num_fewshot: int | None) -> None:
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit}: give a positive number of items per task, or leave --limit out for all")
    if num_fewshot is not None and num_fewshot < 0:
        raise ConfigError(f"--num-fewshot {num_fewshot}: give 0 (zero-shot) or a positive number of examples")


def apply(config: Config, suite_name: str, tasks: str | None, limit: int | None, num_fewshot: int | None,
          seed: int | None, suite_given: bool) -> tuple[Config, str, list[str]]:
    """(config, suite to run, notes on what the command line overrode)."""
    check_counts(limit, num_fewshot)
    notes = []
    if tasks is not None:
        if suite_given:
            raise ConfigError("--tasks replaces the suite's tasks; give --tasks or --suite, not both")
        names = split_names(tasks, "--tasks")
        suite = Suite(COMMAND_LINE_SUITE, tuple(names), {name: TaskOptions() for name in names})
        suite_name = COMMAND_LINE_SUITE
    else:
        suite = config.suite(suite_name)
    options = {}
    for task in suite.tasks:
        option = suite.options.get(task, TaskOptions())
        notes += _said(task, option, limit, num_fewshot)
        options[task] = replace(option, limit=limit if limit is not None else option.limit,
                                num_fewshot=num_fewshot if num_fewshot is not None else option.num_fewshot)
    config = replace(config, suites={**config.suites, suite_name: replace(suite, options=options)})
    if seed is not None:
        if seed != config.seed:
            notes.append(f"--seed {seed} replaces the config's seed {config.seed}")
        config = replace(config, seed=seed)
    return config, suite_name, notes


def _said(task: str, option: TaskOptions, limit: int | None, num_fewshot: int | None) -> list[str]:
    notes = []
    if limit is not None and option.limit not in (None, limit):
        notes.append(f"--limit {limit} wins over the suite's limit = {option.limit} for {task}")
    if num_fewshot is not None and option.num_fewshot not in (None, num_fewshot):
        notes.append(f"--num-fewshot {num_fewshot} wins over the suite's num_fewshot = {option.num_fewshot} for {task}")
    return notes
