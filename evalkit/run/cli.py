"""`evalkit run`: evaluate models on a suite (building missing candidates first), write the leaderboard."""

from __future__ import annotations


def make_parser(commands) -> None:
    run = commands.add_parser("run", help="evaluate models on a suite and write the leaderboard")
    run.add_argument("--models", help="comma-separated model names from the config (default: all)")
    run.add_argument("--suite", default="default", help="suite name from the config (default: %(default)s)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(handler=cmd_run)


def cmd_run(args) -> int:
    from evalkit.models.parallel import world
    from evalkit.report import leaderboard
    from evalkit.report.console import ConsoleUI
    from evalkit.report.summary import print_summary
    from evalkit.run.pipeline import run
    from evalkit.store import open_project

    config, store = open_project(args.config)
    names = config.model_names(args.models)  # a typo fails before any work starts
    ui = ConsoleUI(quiet=args.quiet or not world().is_main)  # one progress display per launch, not one per rank
    run_id = run(config, names, args.suite, store, ui)
    if run_id is None:  # a non-main rank of `accelerate launch`: its share is in the store, rank 0 reports
        return 0
    path = leaderboard.write(store, config.reports, run_id)
    print_summary(store, run_id, ui.console)
    ui.info(f"[bold]leaderboard:[/] {path}")
    return 0
