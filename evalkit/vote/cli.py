"""`evalkit vote` and `evalkit ratings`: their flags and handlers."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from evalkit.config import split_names
from evalkit.errors import ConfigError, EvalkitError
from evalkit.store.db import Store
from evalkit.vote.sources import ANSWERS_COMMAND, JudgeData


def make_parser(commands) -> None:
    vote = commands.add_parser("vote", help="vote on pairs of answers in the terminal (Textual app)")
    vote.add_argument("--annotator", help="your name, stored with each vote (default: $USER)")
    vote.add_argument("--models", help="comma-separated models to compare (default: all with stored answers)")
    vote.add_argument("--prompt-set", help="only this prompt set (default: all)")
    vote.add_argument("--repeat", action="store_true", help="also show pairs you already voted on, after new ones")
    vote.set_defaults(handler=cmd_vote)

    ratings = commands.add_parser("ratings", help="Elo and Bradley-Terry ratings, plain and style-controlled, from the "
                                                  "human votes (or an LLM judge's verdicts)")
    ratings.add_argument("--models", help="comma-separated models to rate (default: all with votes)")
    ratings.add_argument("--prompt-set", help="only votes on this prompt set (default: all)")
    ratings.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default: %(default)s)")
    ratings.add_argument("--plots", metavar="DIR", help="also write the rating and win-rate PNGs into DIR")
    ratings.add_argument("--prior", type=float, default=0.0,
                         help="virtual ties per pair of models in the Bradley–Terry fit, e.g. 1 when some model "
                              "never lost or never won (default: %(default)s, the plain maximum-likelihood fit)")
    ratings.add_argument("--judge", metavar="NAME",
                         help="rate this LLM judge's final verdicts (under its own position rule) instead of the "
                              "human votes")
    ratings.add_argument("--no-style", dest="style", action="store_false",
                         help="leave out the style-controlled ratings (Bradley–Terry with the answers' length and "
                              "markdown as covariates, as Chatbot Arena's style control), which need every voted "
                              "answer's text in the store")
    ratings.set_defaults(handler=cmd_ratings)


def annotator_name(given: str | None) -> str:
    name = given or os.environ.get("USER") or _login_name()
    if not name or not name.strip():
        raise ConfigError("no annotator name: $USER is not set; pass --annotator NAME")
    return name.strip()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def order_note(judge: JudgeData) -> str:
    if judge.verdicts:
        return "next pairs: LLM judge flipped on swapping first, then overlapping ratings"
    return f"next pairs: overlapping ratings first · no judge priority: {judge.note}"


def answers_hint(root: Path | None) -> str:
    """The command that makes answers, with the prompt sets NAME can be here."""
    from evalkit.answers.promptsets import known_prompt_sets

    names = known_prompt_sets(root or Path.cwd())
    return (f"`{ANSWERS_COMMAND}` (prompt sets here: {', '.join(names) or 'none'}; or a .jsonl file of prompts, "
            "one {\"prompt\": ...} per line)")


def voting_pool(store: Store, store_path: Path, prompt_set: str | None, models: list[str] | None,
                root: Path | None = None):
    """Every pair there is to vote on, or an error that says how to make some (`root`: the project's folder,
    where its own prompt sets are)."""
    from evalkit.vote.pairs import candidates
    from evalkit.vote.sources import stored_answers

    if models is not None and len(set(models)) < 2:
        raise ConfigError(f"--models {','.join(models)}: a vote compares two models' answers; name at least "
                          "two, e.g. --models base,sft, or leave --models out for all models with answers")
    answers = stored_answers(store, prompt_set=prompt_set)
    where = f" for prompt set {prompt_set!r}" if prompt_set else ""
    if not answers:
        raise EvalkitError(f"nothing to vote on: no stored answers{where} in {store_path} yet; "
                           f"generate them first with {answers_hint(root)}")
    answered = sorted({a.model for a in answers})
    missing = sorted(set(models or ()) - set(answered))
    if missing:
        raise EvalkitError(f"no stored answers{where} for model(s) {', '.join(missing)}; models with answers: "
                           f"{', '.join(answered)}. Generate them with {answers_hint(root)} or drop them from "
                           "--models")
    if models:
        answers = [a for a in answers if a.model in models]
        answered = sorted(models)
    pool = candidates(answers)
    if not pool:
        raise EvalkitError(f"nothing to vote on: only {', '.join(answered)} answered the prompts{where}; a vote "
                           f"compares two models' answers to the same prompt. Generate answers for a second "
                           f"model with {answers_hint(root)}")
    return pool


def cmd_vote(args) -> int:
    from evalkit.project import load_project
    from evalkit.vote.pairs import PairPicker
    from evalkit.vote.sources import judge_verdicts

    config = load_project(args.config)
    store = Store(config.store)
    annotator = annotator_name(args.annotator)
    pool = voting_pool(store, config.store, args.prompt_set, split_names(args.models), config.root)
    judge = judge_verdicts(store, args.prompt_set)
    picker = PairPicker(store, annotator, pool, judge, repeat=args.repeat, seed=config.seed)
    if picker.next() is None:
        print(f"{annotator} has voted on all {len(pool)} pairs. Pass --repeat to vote on them again, or "
              f"add models or prompts; `evalkit ratings` shows the ratings.")
        return 0
    from evalkit.vote.app import VoteApp  # Textual only once there is something to show

    VoteApp(store, annotator, picker, order_note(judge)).run()
    return 0


def cmd_ratings(args) -> int:
    from rich.console import Console

    from evalkit.project import load_project
    from evalkit.vote.analysis import summarise
    from evalkit.vote.table import print_summary

    if args.rounds < 0:
        raise ConfigError(f"--rounds must be >= 0, got {args.rounds}")
    if args.prior < 0:
        raise ConfigError(f"--prior must be >= 0 (virtual ties per pair), got {args.prior}")
    config = load_project(args.config)
    store = Store(config.store)
    if args.judge:
        return _judge_ratings(args, config, store)
    summary = summarise(store, prompt_set=args.prompt_set, models=split_names(args.models),
                        rounds=args.rounds, seed=config.seed, prior=args.prior, style=args.style)
    if summary is None:
        chosen = "".join(f" {flag} {value}" for flag, value in (("--models", args.models),
                                                                  ("--prompt-set", args.prompt_set)) if value)
        raise EvalkitError(f"no current votes{' for' + chosen if chosen else ''} in {config.store} (none cast yet, "
                           "or all on answers regenerated since); cast some with `evalkit vote`")
    if summary.style_note:
        raise EvalkitError(summary.style_note)
    console = Console()
    print_summary(summary, console)
    if args.plots:
        from evalkit.report.votes import write_plots

        for name in write_plots(summary, Path(args.plots)):
            console.print(f"plot: {Path(args.plots) / name}")
    return 0


def _judge_ratings(args, config, store: Store) -> int:
    from rich.console import Console

    from evalkit.vote.judged import judge_ratings
    from evalkit.vote.table import print_judge_ratings

    if args.plots:
        raise ConfigError("--plots draws the human votes' plots; a judge's are written with the leaderboard "
                          "(`evalkit report`). Leave out --plots or --judge")
    result = judge_ratings(store, args.judge, args.prompt_set, split_names(args.models), args.rounds, config.seed,
                           prior=args.prior, style=args.style)
    print_judge_ratings(result, Console())
    return 0
