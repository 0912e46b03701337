"""evalkit command line. Thin: parse → build → call. Heavy imports happen inside commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalkit import __version__
from evalkit.errors import EvalkitError

DESCRIPTION = """Evaluate fine-tuned text-generation models and compare them on one leaderboard.

  evalkit run --models base,sft,dpo     evaluate (and build missing candidates), write reports/leaderboard.md
  evalkit report                        re-render the leaderboard from the store alone
  evalkit export --out samples.jsonl    per-sample records (prompt, response, score) as JSONL
  evalkit judge --models base,sft,dpo   pairwise LLM judge, both orders; win rates and ratings on the leaderboard
  evalkit serve --model sft             a model behind an OpenAI-compatible API (chat, completions, logprobs)
  evalkit vote --annotator NAME         vote on two models' answers side by side (terminal app)
  evalkit ratings                       Elo and Bradley-Terry ratings from the votes, with 95% intervals
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evalkit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    parser.add_argument("--config", default="evalkit.toml", help="project config (default: %(default)s)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="evaluate models on a suite and write the leaderboard")
    run.add_argument("--models", help="comma-separated model names from the config (default: all)")
    run.add_argument("--suite", default="default", help="suite name from the config (default: %(default)s)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(handler="evalkit.commands:cmd_run")

    report = commands.add_parser("report", help="re-render reports/leaderboard.md from the store")
    report.add_argument("--run", type=int, help="run id (default: the latest finished run)")
    report.set_defaults(handler="evalkit.commands:cmd_report")

    export = commands.add_parser("export", help="write per-sample records of a run as JSONL")
    export.add_argument("--run", type=int, help="run id (default: the latest finished run)")
    export.add_argument("--out", required=True, help="output .jsonl path")
    export.set_defaults(handler="evalkit.commands:cmd_export")

    runs = commands.add_parser("runs", help="list the runs in the store")
    runs.set_defaults(handler="evalkit.commands:cmd_runs")
    # Feature commands (train, judge, serve, vote, ratings) add their parsers below, each with
    # set_defaults(handler="module:function"); the module is imported only when the command runs.

    # -- pairwise judge, answers, OpenAI-compatible server (evalkit/judge*.py, answers.py, serve.py) --
    judge = commands.add_parser("judge", help="judge every pair of models' answers in both orders (LLM-as-judge)")
    judge.add_argument("--models", help="comma-separated model names, two or more (default: all)")
    judge.add_argument("--judge", help="a [judges.NAME] entry of the config (default: the only one)")
    judge.add_argument("--prompt-set", help="prompt set name or .jsonl path (default: the judge's own)")
    judge.add_argument("--limit", type=int, help="only the first N prompts")
    judge.add_argument("--quiet", action="store_true", help="no progress bars")
    judge.set_defaults(handler="evalkit.judge_cli:cmd_judge")

    answers = commands.add_parser("answers", help="generate the models' answers to a prompt set (for judge and vote)")
    answers.add_argument("--models", help="comma-separated model names (default: all)")
    answers.add_argument("--prompt-set", default="default", help="prompt set name or .jsonl path (default: %(default)s)")
    answers.add_argument("--limit", type=int, help="only the first N prompts")
    answers.add_argument("--quiet", action="store_true", help="no progress bars")
    answers.set_defaults(handler="evalkit.judge_cli:cmd_answers")

    serve = commands.add_parser("serve", help="serve a model behind an OpenAI-compatible HTTP API")
    serve.add_argument("--model", required=True, help="model name from the config")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    serve.set_defaults(handler="evalkit.serve:cmd_serve")

    # -- training (evalkit/train) --
    train = commands.add_parser("train", help="train a candidate from a recipe (QLoRA SFT, DPO, ORPO, reward model)")
    stages = train.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, text in (("sft", "supervised fine-tuning on chat / instruction data"),
                        ("dpo", "direct preference optimisation on chosen/rejected pairs"),
                        ("orpo", "odds-ratio preference optimisation, no reference model (TRL experimental)"),
                        ("reward", "a reward model that scores replies, usable as a judge")):
        stage_parser = stages.add_parser(stage, help=text)
        stage_parser.add_argument("--recipe", required=True, help="recipe TOML file (see recipes/)")
        stage_parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                                  help="override a recipe setting, e.g. --set train.learning_rate=1e-4 (repeatable)")
        stage_parser.add_argument("--parent", default="base", help="config model to train from (default: %(default)s)")
        stage_parser.add_argument("--quiet", action="store_true", help="no progress bar")
        stage_parser.set_defaults(handler="evalkit.train.cli:cmd_train")

    # -- human votes (evalkit/vote) --
    vote = commands.add_parser("vote", help="vote on pairs of answers in the terminal (Textual app)")
    vote.add_argument("--annotator", help="your name, stored with each vote (default: $USER)")
    vote.add_argument("--models", help="comma-separated models to compare (default: all with stored answers)")
    vote.add_argument("--prompt-set", help="only this prompt set (default: all)")
    vote.add_argument("--repeat", action="store_true", help="also show pairs you already voted on, after new ones")
    vote.set_defaults(handler="evalkit.vote.cli:cmd_vote")

    ratings = commands.add_parser("ratings", help="Elo and Bradley-Terry ratings from the human votes")
    ratings.add_argument("--models", help="comma-separated models to rate (default: all with votes)")
    ratings.add_argument("--prompt-set", help="only votes on this prompt set (default: all)")
    ratings.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default: %(default)s)")
    ratings.add_argument("--plots", metavar="DIR", help="also write the rating and win-rate PNGs into DIR")
    ratings.set_defaults(handler="evalkit.vote.cli:cmd_ratings")
    return parser


def _quiet_known_notices() -> None:
    """bitsandbytes announces at import, on CPUs with AVX512-BF16, that it could not fetch an optional
    4-bit kernel from the hub (the `kernels` package); it then uses its own CPU kernel, which is what
    runs anyway on a machine with no hub. The notice reads like an error in the middle of training."""
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _quiet_known_notices()
    try:
        import importlib

        module, function = args.handler.split(":")
        return getattr(importlib.import_module(module), function)(args)
    except EvalkitError as err:
        if args.debug:
            raise
        from evalkit.console import error

        error(str(err))
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is in the store and a rerun resumes from there", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
