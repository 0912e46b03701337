"""evalkit command line. Thin: parse → build → call. Heavy imports happen inside commands."""

from __future__ import annotations

import argparse
import sys

from evalkit import __version__
from evalkit.errors import EvalkitError, activity_of, explain
from evalkit.judge import cli as judge_cli
from evalkit.models import cli as models_cli
from evalkit.report import cli as report_cli
from evalkit.report.console import error, quiet_third_party_progress
from evalkit.run import cli as run_cli
from evalkit.serve import cli as serve_cli
from evalkit.tasks import cli as tasks_cli
from evalkit.train import cli as train_cli
from evalkit.view import cli as view_cli
from evalkit.vote import cli as vote_cli

DESCRIPTION = """Evaluate fine-tuned text-generation models and compare them on one leaderboard.

  evalkit run --models base,sft,dpo     evaluate (and build missing candidates), write reports/leaderboard.md
  evalkit run --models ./my-model --tasks mmlu,gsm8k --limit 50     any model, any task, no project file
  evalkit tasks / evalkit models        what tasks and models there are, and where their data comes from
  evalkit report                        re-render the leaderboard from the store alone
  evalkit export --out samples.jsonl    per-sample records (prompt, response, score) as JSONL
  evalkit view                          runs, samples and model-against-model diffs in a browser (--bundle DIR: files)
  evalkit judge --models base,sft,dpo   pairwise LLM judge, both orders; win rates and ratings on the leaderboard
  evalkit serve --model sft             a model behind an OpenAI-compatible API (chat, completions, logprobs)
  evalkit vote --annotator NAME         vote on two models' answers side by side (terminal app)
  evalkit ratings                       Elo and Bradley-Terry ratings from the votes, with 95% intervals
"""


# Each command's flags sit beside its handler (FEATURE.make_parser); this list is the order of
# `evalkit --help`. The feature CLI modules import nothing heavy at module level, so building the
# parser costs only the parsers: torch, transformers and peft load inside the handler that needs them.
COMMAND_MODULES = (run_cli, report_cli, view_cli, tasks_cli, models_cli, judge_cli, serve_cli, train_cli, vote_cli)


class OneLineParser(argparse.ArgumentParser):
    """argparse's own errors (a bad flag or value) as one line like every other error, with where to look."""

    def error(self, message: str):
        error(f"{self.prog}: {message}; `{self.prog} --help` lists the options")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="evalkit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    parser.add_argument("--config", help="project config (default: ./evalkit.toml if there is one, else the "
                                          "built-in default: the embedded SmolLM2 model and the offline suite)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.make_parser(commands)
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
    quiet_third_party_progress(debug=args.debug)
    try:
        return args.handler(args)
    except EvalkitError as err:
        if args.debug:
            raise
        error(str(err))
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is in the store and a rerun resumes from there", file=sys.stderr)
        return 130
    except Exception as err:  # the boundary: whatever a library raised becomes one line saying what failed
        if args.debug:
            raise
        error(unexpected(err, f"running `evalkit {args.command}`"))
        return 1


def unexpected(err: BaseException, default_activity: str) -> str:
    """One line for an exception that is not an EvalkitError: what evalkit was doing, what went wrong
    (a known library failure in plain words and its fix, else the exception itself) and how to see more."""
    known = explain(err)
    cause = known or f"{type(err).__name__}: {' '.join(str(err).split()) or '(no message)'}"[:400]
    return f"{activity_of(err, default_activity)} failed: {cause}; run with --debug for the traceback"


if __name__ == "__main__":
    raise SystemExit(main())
