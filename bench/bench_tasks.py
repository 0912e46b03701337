"""The benchmark tasks added beside MMLU/GSM8K, against lm-evaluation-harness on the same items.

    python bench/bench_tasks.py [--limit 20] [--tasks arc_easy,winogrande_5shot,...]

For each task, evalkit's own task file reads the first --limit items from $EVALKIT_DATA_DIR
(Mosaic's llm-foundry JSONL, TruthfulQA.csv, mbpp.jsonl); the same rows, written back in the
layout of the hub data set lm-eval reads (bench/task_layouts.py), are run by lm-eval's own
task definition through a local YAML that includes it. evalkit runs in this process on its
own engine (task kind → hf backend → kind's scoring); lm-eval runs as its command line
(bench/lmeval_offline.py). Compared item by item: the request strings, every log-likelihood
(tolerance 1e-3 nats + 1e-5 per continuation token), the accuracy / mc2 / perplexity, generated
text and, for MBPP, pass/fail; a picked answer that differs is listed with both tools' numbers,
and fails unless the item is a near-tie (bench/agreement.py). Few-shot variants use the first_n
sampler on both sides so the examples are the same. Exit status 1 on any disagreement.

Each tool is timed per task: evalkit's scoring in this process (the decoder's share of it and its
tokens/s beside), lm-eval's own time for its log-likelihood requests and its whole run.
`--limit 0 --tasks arc_easy,arc_challenge,piqa,winogrande` is the full-size parity run.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import time
from pathlib import Path

import agreement
import benchlib as bl
import task_layouts

TOLERANCE = 1e-3
# float32 rounding adds up along a continuation (PIQA's run to 100+ tokens): allowed on top, per token
TOLERANCE_PER_TOKEN = 1e-5
# name -> (evalkit task, few-shot k, lm-eval task it is compared with)
VARIANTS = {"arc_easy": ("arc_easy", 0), "arc_challenge": ("arc_challenge", 0), "piqa": ("piqa", 0),
            "winogrande": ("winogrande", 0), "lambada": ("lambada", 0), "truthfulqa_mc1": ("truthfulqa_mc1", 0),
            "truthfulqa_mc2": ("truthfulqa_mc2", 0), "truthfulqa_gen": ("truthfulqa_gen", 0), "mbpp": ("mbpp", 3),
            "winogrande_5shot": ("winogrande", 5), "arc_challenge_25shot": ("arc_challenge", 25)}
GENERATION = {"truthfulqa_gen", "mbpp"}


def evalkit_task(name: str, shots: int, folder: Path):
    """The built-in task; a few-shot variant draws its examples first_n from the data dir file."""
    from evalkit.tasks.loading import BUILTIN_TASKS, load_task

    if shots == 0 or name == "mbpp":
        return load_task(name)
    text = (BUILTIN_TASKS / f"{name}.toml").read_text().replace('sampler = "random"', 'sampler = "first_n"')
    path = folder / f"{name}_first_n.toml"
    path.write_text(text)
    return load_task(str(path))


def run_evalkit(task, samples, shots: int, backend) -> tuple[list, list, list]:
    options = {"seed": 1234, "num_fewshot": shots}
    requests = [task.handler.requests(task, s, options) for s in samples]
    flat = [r for rs in requests for r in rs]
    call = backend.generate if flat[0].kind == "generate" else backend.loglikelihood
    answers: list = [None] * len(flat)
    for index, answer in call(flat):
        answers[index] = answer
    grouped, start = [], 0
    for rs in requests:
        grouped.append(answers[start:start + len(rs)])
        start += len(rs)
    records, metrics = task.handler.score(task, samples, grouped, options)
    for record, answer_group in zip(records, grouped):  # continuation lengths, for the tolerance in compare()
        record["_tokens"] = [getattr(a, "n_tokens", 0) for a in answer_group]
    return requests, records, metrics


def truthfulqa_rows(limit: int) -> list[dict]:
    """MC rows carry both targets (one file serves lm-eval's mc1 and mc2), from evalkit's own tasks."""
    from evalkit.config import TaskOptions
    from evalkit.tasks.loading import load_task

    mc1, mc2 = (load_task(n).load_samples(TaskOptions(limit=limit)) for n in ("truthfulqa_mc1", "truthfulqa_mc2"))
    return [{"question": a.row["question"],
             "mc1_targets": {"choices": a.row["choices"], "labels": [1] + [0] * (len(a.row["choices"]) - 1)},
             "mc2_targets": {"choices": b.row["choices"],
                             "labels": [int(i in b.row["gold"]) for i in range(len(b.row["choices"]))]}}
            for a, b in zip(mc1, mc2)]


def lmeval_args(sample: dict) -> list[tuple]:
    """(context, continuation) or (context, generation settings) of each request, in order."""
    args = sample["arguments"]
    values = args.values() if isinstance(args, dict) else args
    return [tuple(v.values()) if isinstance(v, dict) else tuple(v) for v in values]


def compare(name: str, requests, records, metrics, theirs: list[dict]) -> list[str]:
    theirs = sorted(theirs, key=lambda s: s["doc_id"])
    problems = []
    if len(theirs) != len(records):
        return [f"{name}: evalkit scored {len(records)} items, lm-eval {len(theirs)}"]
    worst = 0.0
    for i, (ours, sample, record) in enumerate(zip(requests, theirs, records)):
        their_args = lmeval_args(sample)
        if name in GENERATION:
            if ours[0].prompt != their_args[0][0]:
                problems.append(f"{name} item {i}: prompts differ")
            generated = sample["resps"][0][0]
            if record["response"] != generated:
                problems.append(f"{name} item {i}: generated text differs: {record['response']!r} vs {generated!r}")
            continue
        if [(r.context, r.continuation) for r in ours] != [a[:2] for a in their_args]:
            problems.append(f"{name} item {i}: requests differ: {ours[0]!r} vs {their_args[0][:2]!r}")
        lls = record["scores"].get("loglikelihoods", [record["scores"].get("loglikelihood")])
        other = [float(r[0]) for r in sample["filtered_resps"]] if name != "lambada" else \
            [float(sample["resps"][0][0][0])]
        worst = max(worst, *(abs(a - b) for a, b in zip(lls, other)))
        for choice, (a, b, n) in enumerate(zip(lls, other, record["_tokens"])):
            if abs(a - b) > TOLERANCE + TOLERANCE_PER_TOKEN * n:
                problems.append(f"{name} item {i} choice {choice}: log-likelihoods {a:.6f} vs {b:.6f} differ by "
                                f"{abs(a - b):.2e} nats over {n} tokens > {TOLERANCE} + {TOLERANCE_PER_TOKEN} per token")
    return problems + [f"__worst__ {worst}"]


# evalkit metric -> lm-eval's per-sample field of the same quantity
SAME_METRIC = {"acc": "acc", "acc_norm": "acc_norm", "mc2": "acc", "pass@1": "pass_at_1"}


def compare_scores(name: str, requests, records, theirs: list[dict]) -> tuple[list[str], dict[str, tuple[float, float]], list[str]]:
    """Per-item scores that must be identical, each metric's mean on both sides, and the items
    whose picked choice differs (agreement.py: near-ties are listed, not failed)."""
    theirs = sorted(theirs, key=lambda s: s["doc_id"])
    problems, means, listed = [], {}, []
    names = [m for m in records[0]["scores"] if m in SAME_METRIC or re.fullmatch(r"(bleu|rouge\w+)_(max|diff|acc)", m)]
    for metric in names:
        field = SAME_METRIC.get(metric, metric)
        ours = [float(r["scores"][metric]) for r in records]
        other = [float(s[field]) for s in theirs]
        means[metric] = (sum(ours) / len(ours), sum(other) / len(other))
        if metric in ("acc", "acc_norm") and "loglikelihoods" in records[0]["scores"]:
            found = choice_disagreements(metric, requests, records, theirs)
            listed += [d.line(f"{name} {metric}") for d in found]
            problems += [d.line(f"{name} {metric}") for d in found if not d.tie]
            continue
        # mc2 is a smooth function of log-likelihoods that may differ by TOLERANCE; 0/1 scores and
        # BLEU/ROUGE of identical text must agree exactly
        tolerance = TOLERANCE if metric == "mc2" else 1e-6
        bad = [i for i, (a, b) in enumerate(zip(ours, other)) if not math.isclose(a, b, abs_tol=tolerance)]
        if bad:
            problems.append(f"{name}: {metric} differs on items {bad[:10]}")
    if name == "lambada":
        ours = [r["scores"]["loglikelihood"] for r in records]
        other = [float(s["perplexity"]) for s in theirs]  # lm-eval logs the log-likelihood under "perplexity"
        means["perplexity"] = (math.exp(-sum(ours) / len(ours)), math.exp(-sum(other) / len(other)))
    return problems, means, listed


def choice_disagreements(metric: str, requests, records, theirs: list[dict]) -> list[agreement.Disagreement]:
    ours = [r["scores"]["loglikelihoods"] for r in records]
    other = [[float(r[0]) for r in s["filtered_resps"]] for s in theirs]
    if metric == "acc_norm":
        continuations = [[r.continuation for r in rs] for rs in requests]
        ours, other = agreement.normalised(ours, continuations), agreement.normalised(other, continuations)
    return agreement.disagreements(ours, other)


def export_rows(task_name: str, samples, limit: int) -> list[dict]:
    if task_name.startswith("truthfulqa_mc"):
        return truthfulqa_rows(limit)
    if task_name == "truthfulqa_gen":
        with open(bl.data_dir() / "truthfulqa" / "TruthfulQA.csv", newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))[:limit]
    return [s.row for s in samples]


def lmeval_extra(name: str, shots: int) -> dict:
    extra: dict = {"num_fewshot": shots} if shots and name != "mbpp" else {}
    if shots and name != "mbpp":
        extra["fewshot_split"] = task_layouts.LAYOUTS[VARIANTS[name][0]][1]
        extra["fewshot_config"] = {"sampler": "first_n"}
    return extra


def measure(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20, help="items per task (generation tasks: half); 0: all")
    parser.add_argument("--tasks", default=",".join(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-append", action="store_true", help="do not append the report to bench/RESULTS.md")
    args = parser.parse_args(argv)
    from evalkit.backends.hf import HFBackend
    from evalkit.backends.tokens import encode_pair
    from evalkit.config import ModelSpec, TaskOptions

    bl.data_dir()
    folder, work = bl.model_folder(), bl.clean(bl.WORK / "tasks")
    venv = bl.DEFAULT_VENV
    lm_root = bl.lmeval_site_packages(venv)
    backend = HFBackend(ModelSpec(name="base", source=str(folder), dtype="float32", batch_size=args.batch_size), folder)
    plain_rate = agreement.plain_forward_rate(backend.decoder)
    ours, lm_names, samples, times = {}, {}, {}, {}
    for name in args.tasks.split(","):
        task_name, shots = VARIANTS[name]
        limit = None if args.limit == 0 else max(1, args.limit // 2) if name in GENERATION else max(args.limit, shots + 1)
        task = evalkit_task(task_name, shots, work)
        task_samples = task.load_samples(TaskOptions(limit=limit))
        profile = agreement.ForwardProfile()
        hooks = profile.attach(backend.decoder)
        start = time.perf_counter()
        ours[name] = run_evalkit(task, task_samples, shots, backend)
        ours_seconds = time.perf_counter() - start
        for hook in hooks:
            hook.remove()
        print(f"evalkit {name}: {len(task_samples)} items in {ours_seconds:.1f} s, "
              f"{[(m['metric'], round(m['value'], 4)) for m in ours[name][2]][:4]}", flush=True)
        rows = export_rows(task_name, task_samples, limit)
        lm_names[name] = task_layouts.write_lmeval_task(task_name, name, rows, work / "lmeval" / name, lm_root,
                                                        lmeval_extra(name, shots))
        out, log = work / "out" / name, work / f"lmeval-{name}.log"
        command = [str(venv / "bin" / "python"), str(bl.REPO / "bench" / "lmeval_offline.py"), "run", "--model", "hf",
                   "--model_args", f"pretrained={folder},dtype=float32", "--tasks", lm_names[name],
                   "--include_path", str(work / "lmeval" / name), "--batch_size", str(args.batch_size),
                   "--device", "cpu", "--output_path", str(out), "--log_samples", "--confirm_run_unsafe_code"]
        timing = bl.timed(command, {**bl.offline_env(), "HF_ALLOW_CODE_EVAL": "1"}, log)
        theirs_seconds = agreement.lmeval_scoring_seconds(log)
        print(f"lm-eval {name}: {timing.wall:.1f} s wall, {theirs_seconds} s scoring", flush=True)
        samples[name] = bl.lmeval_outputs(out)[1][lm_names[name]]
        flat = [r for rs in ours[name][0] for r in rs]
        theirs_tokens = agreement.lmeval_tokens(flat, lambda c, k: encode_pair(backend.encode, c, k, backend.prefix_token))
        times[name] = (ours_seconds, theirs_seconds, timing.wall, profile, theirs_tokens)
    return report(ours, samples, times, plain_rate)


def report(ours: dict, samples: dict, times: dict, plain_rate: float) -> int:
    failures, listed = [], []
    print("\n| task | items | metric | evalkit | lm-eval | largest log-likelihood difference |")
    print("|---|---:|---|---:|---:|---:|")
    for name, (requests, records, _) in ours.items():
        theirs = samples[name]
        problems = compare(name, requests, records, None, theirs)
        worst = float(problems.pop()[len("__worst__ "):])
        more, means, differing = compare_scores(name, requests, records, theirs)
        failures += problems + more
        listed += differing
        for metric, (a, b) in means.items():
            shown = "—" if name in GENERATION else f"{worst:.1e} nats"
            print(f"| {name} | {len(records)} | {metric} | {a:.4f} | {b:.4f} | {shown} |")
    print("\n| task | items | evalkit, s | lm-eval scoring, s (whole run) | lm-eval / evalkit | "
          "evalkit in the decoder's forward | decoder tokens/s | tokens read: evalkit (padded), lm-eval |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (ours_s, theirs_s, theirs_wall, profile, theirs_tokens) in times.items():
        ratio = f"{theirs_s / ours_s:.2f}x" if theirs_s else "—"
        print(f"| {name} | {len(ours[name][1])} | {ours_s:.1f} | {theirs_s} ({theirs_wall:.0f}) | {ratio} | "
              f"{profile.seconds / ours_s:.0%} | {profile.rate:,.0f} | {profile.tokens:,}, {theirs_tokens:,} |")
    print(f"\nThe bare decoder on one [8, 64] batch, same process: {plain_rate:,.0f} tokens/s.")
    print("\n" + "\n".join(["Items whose picked answer differs:", *listed] if listed else
                            ["The picked answer is the same on every item (acc and acc_norm)."]))
    print("\n" + ("\n".join(failures) if failures else "every request, log-likelihood and per-item score agrees"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(bl.printed_report(measure, None, "Benchmark tasks against lm-eval", "SmolLM2-135M-Instruct float32, CPU"))
