"""`evalkit answers`: the models' answers to a prompt set, generated where missing (for judge and vote)."""

from __future__ import annotations

from evalkit.errors import ConfigError
from evalkit.run.cli import add_model_flags


def make_parser(commands) -> None:
    answers = commands.add_parser("answers", help="generate the models' answers to a prompt set (for judge and vote)")
    add_model_flags(answers)
    answers.add_argument("--prompt-set", default="default", help="prompt set name or .jsonl path (default: %(default)s)")
    answers.add_argument("--limit", type=int, help="only the first N prompts")
    answers.add_argument("--quiet", action="store_true", help="no progress bars")
    answers.set_defaults(handler=cmd_answers)


def prompt_models(args, config):
    """For `evalkit answers` and `evalkit judge`: the --models entries (names or sources) with the run-wide
    model flags; --limit checked first."""
    from evalkit.models.entries import select_models

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: give a positive number of prompts, or leave --limit out for all")
    return select_models(config, args.models, {"batch_size": args.batch_size, "dtype": args.dtype,
                                               "device": args.device})


def cmd_answers(args) -> int:
    from evalkit.answers.generate import collect_answers, report_failures
    from evalkit.answers.promptsets import load_prompt_set
    from evalkit.models.ray_pool import ray_workers
    from evalkit.progress.console import ConsoleUI
    from evalkit.project import open_project

    config, store = open_project(args.config)
    config, names = prompt_models(args, config)
    ui = ConsoleUI(quiet=args.quiet)
    prompt_set = load_prompt_set(args.prompt_set, config.root, args.limit)
    with ray_workers(config.parallel, args.ray or config.parallel.ray, ui):
        run = collect_answers(config, names, prompt_set, store, ui)
    report_failures(run.failures, "answers", ui)
    ui.console.print(f"{len(run.answers)} answers of {', '.join(names)} to {len(prompt_set.prompts)} prompts of "
                     f"{prompt_set.name!r} are in {config.store}")
    return 1 if run.n_failed else 0
