"""`evalkit judge`: build from the config, call, print a summary."""

from __future__ import annotations

from evalkit.answers.cli import prompt_models
from evalkit.errors import ConfigError
from evalkit.run.cli import add_model_flags


def make_parser(commands) -> None:
    judge = commands.add_parser("judge", help="judge every pair of models' answers in both orders (LLM-as-judge)")
    add_model_flags(judge)
    judge.add_argument("--judge", help="a [judges.NAME] entry of the config (default: the only one)")
    judge.add_argument("--prompt-set", help="prompt set name or .jsonl path (default: the judge's own)")
    judge.add_argument("--limit", type=int, help="only the first N prompts")
    judge.add_argument("--quiet", action="store_true", help="no progress bars")
    judge.set_defaults(handler=cmd_judge)


def _judge_name(args, config) -> str:
    if args.judge:
        config.judge(args.judge)
        return args.judge
    if len(config.judges) == 1:
        return next(iter(config.judges))
    raise ConfigError(f"name a judge with --judge; {config.path} defines: {', '.join(sorted(config.judges)) or '(none)'}"
                      f". Add a [judges.NAME] table (prompt = \"mtbench-pairwise\", model = \"...\") to define one.")


def cmd_judge(args) -> int:
    from evalkit.judge.run import run_judge
    from evalkit.models.ray_pool import ray_workers
    from evalkit.progress.console import ConsoleUI
    from evalkit.project import open_project

    config, store = open_project(args.config)
    config, names = prompt_models(args, config)
    judge = _judge_name(args, config)
    ui = ConsoleUI(quiet=args.quiet)
    with ray_workers(config.parallel, args.ray or config.parallel.ray, ui):  # answers and a local judge model
        summary = run_judge(config, names, judge, args.prompt_set, store, ui, limit=args.limit)
    print_judge_summary(store, summary, config.seed, ui.console)
    _rerender(store, config, ui)
    return 1 if summary.missing or summary.answer_failures else 0


def print_judge_summary(store, summary, seed: int, console) -> None:
    """The pass's win rates under the judge's position rule, and under the other rule beside it where the
    verdict probabilities allow both (as the leaderboard shows them), with the two rules' agreement."""
    from evalkit.judge.verdicts import judge_infos, judged_pairs, judgment_rows
    from evalkit.judge.calibration import rules_for
    from evalkit.report.judge_tables import agreement_cells

    pairs = judged_pairs(store, summary.prompt_set, summary.judge)
    lengths = {(r["prompt_id"], r["model_a"], r["model_b"]): (r["len_a"], r["len_b"])
               for r in judgment_rows(store, summary.prompt_set, summary.judge)}
    wanted, by_rule, note = rules_for(judge_infos(store).get((summary.judge, summary.prompt_set), {}), pairs)
    for rule, decided in by_rule.items():
        setting = "the judge's setting" if rule == wanted else "shown beside it"
        title = (f"judge {summary.judge} · {summary.prompt_set} ({summary.n_prompts} prompts) · {rule} rule "
                 f"({setting})")
        console.print(_rule_table(title, decided, lengths, list(summary.models), seed))
    if len(by_rule) == 2:
        console.print(f"strict vs calibrated, agreeing items (with ties | without): "
                      f"{agreement_cells(by_rule['strict'], by_rule['calibrated'])}.{note}")
    console.print(f"{summary.judged} judged now, {summary.cached} already stored, {summary.unscored} of the new ones "
                  f"unscored, {summary.skipped} skipped · {summary.seconds:.1f} s")
    if summary.failures:
        detail = ", ".join(f"{k} ×{v}" for k, v in summary.failures.items())
        console.print(f"[yellow]⚠ {summary.missing} judgments missing after failed requests ({detail}); "
                      f"rerun the same command to complete only those[/]")


def _rule_table(title: str, pairs, lengths, models: list[str], seed: int):
    from rich.table import Table

    from evalkit.judge.stats import pair_stats

    table = Table(title=title)
    for column in ("pair", "win / tie / loss", "unscored", "win rate [95% CI]", "length-controlled"):
        table.add_column(column, justify="left" if column == "pair" else "right")
    for j in range(1, len(models)):
        for i in range(j):
            s = pair_stats(pairs, lengths, models[j], models[i], seed, rounds=200)
            rate = "–" if s.rate is None else f"{s.rate.rate:.3f} [{s.rate.low:.3f}, {s.rate.high:.3f}]"
            lc = "–" if s.lc_rate is None else f"{s.lc_rate:.3f}"
            table.add_row(f"{models[j]} vs {models[i]}", f"{s.wins} / {s.ties} / {s.losses}", str(s.unscored), rate, lc)
    return table


def _rerender(store, config, ui) -> None:
    from evalkit.report import leaderboard as report

    try:
        path = report.write(store, config.reports)
    except LookupError:
        ui.info("no finished `evalkit run` yet, so no leaderboard to add the judge section to")
        return
    ui.info(f"[bold]leaderboard:[/] {path}")
