"""`evalkit run`: evaluate models on a suite (building missing candidates first), write the leaderboard."""

from __future__ import annotations

import argparse

from evalkit.config import DTYPES
from evalkit.kinds.formats import FORMATS

EXAMPLES = """examples:
  evalkit run --models base,sft,dpo
  evalkit run --models ./out/checkpoint-500,HuggingFaceTB/SmolLM2-135M-Instruct --tasks mmlu,gsm8k \\
              --limit 50 --num-fewshot 5 --batch-size 16 --dtype bfloat16 --device cuda
  evalkit run --models ./model.gguf:dtype=float32 --tasks ./my_task.toml
  evalkit run --models base,sft --tasks mmlu --slice-by subject,prompt_length
  evalkit run --models base,sft --tasks mmlu,gsm8k --ray auto     # workers on the running Ray cluster
  evalkit run --models base,sft,dpo --tasks mmlu,gsm8k --formats mc,cloze,chat,fewshot-multiturn

A --models entry is a model of the config, or a source: a folder, a .gguf file, a hub id (org/name),
openai:MODEL or an http(s) endpoint, embedded:smollm2-135m-instruct; `:key=value` parts set that
model's options (dtype, batch_size, device, max_length, quantization, adapter, name, ...).
Command-line flags win over the config and the suite; the run records them.

--formats runs each multiple-choice and generation task also in these prompt formats, on the same items
(the leaderboard's "Format sensitivity" section compares them); combine a formulation with a
presentation with +, e.g. cloze+chat:
""" + "\n".join(f"  {name:<18} {fmt.summary}" for name, fmt in FORMATS.items())


def make_parser(commands) -> None:
    run = commands.add_parser("run", help="evaluate models on a suite and write the leaderboard", epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_flags(run)
    run.add_argument("--suite", help="suite name from the config (default: default)")
    run.add_argument("--tasks", help="comma-separated task names or task .toml files; replaces the suite's tasks")
    run.add_argument("--limit", type=int, help="at most N items per task (wins over the suite's limit)")
    run.add_argument("--num-fewshot", type=int, help="few-shot examples per prompt, for tasks that have few-shot data")
    run.add_argument("--seed", type=int, help="seed for sampling, subsets and bootstrap intervals (default: the config's)")
    run.add_argument("--slice-by", metavar="FIELD[,FIELD]", help="also show each task's results per value of a row "
                     "field (subject, a tag) or bucket (prompt_length, answer_length), with paired comparisons per slice")
    run.add_argument("--formats", metavar="FORMAT[,FORMAT]", help="also run each multiple-choice and generation "
                     f"task in these prompt formats ({', '.join(FORMATS)}; see below), on the same items")
    run.add_argument("--workers", metavar="N", help="processes on this machine that each hold a copy of a CPU model "
                     "and share its requests (this one among them): a count, or auto (one per core); more keep more "
                     "speed beside other busy programs and cost some on a quiet machine (default: 1, or "
                     "parallel.workers)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(handler=cmd_run)


def add_model_flags(parser) -> None:
    """--models and the run-wide model settings, shared by run, answers and judge."""
    parser.add_argument("--models", help="comma-separated model names from the config or model sources (default: all "
                                         "configured models)")
    parser.add_argument("--batch-size", type=int, help="batch size for every model of this run")
    parser.add_argument("--dtype", choices=DTYPES, help="weights dtype for every model of this run")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps or auto, for every model of this run")
    parser.add_argument("--ray", metavar="ADDRESS", help="compute on a Ray cluster's workers, one per GPU (or per "
                        "parallel.cpus_per_worker CPUs), while this process alone writes the store: auto (a running "
                        "cluster), ray://HOST:10001, HOST:PORT, or local (start one here); wins over parallel.ray")


def cmd_run(args) -> int:
    from evalkit.models.parallel import world
    from evalkit.report import leaderboard
    from evalkit.report.summary import print_summary
    from evalkit.run.command import RunRequest, run_request

    request = RunRequest(config=args.config, models=args.models, suite=args.suite, tasks=args.tasks, limit=args.limit,
                         num_fewshot=args.num_fewshot, seed=args.seed, batch_size=args.batch_size, dtype=args.dtype,
                         device=args.device, slice_by=args.slice_by, formats=args.formats,
                         quiet=args.quiet, ray=args.ray, workers=args.workers)
    config, store, run_id, ui = run_request(request)
    if run_id is None:  # a non-main rank of `accelerate launch`: its share is in the store, rank 0 reports
        world().leave()
        return 0
    path = leaderboard.write(store, config.reports)  # every suite's latest results, this run's among them
    print_summary(store, run_id, ui.console)
    ui.info(f"[bold]leaderboard:[/] {path}")
    return 0
