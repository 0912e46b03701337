"""GSM8K: evalkit against lm-evaluation-harness generating from the same prompts.

    python bench/bench_gsm8k.py [--questions 20] [--repeats 2]

The first --questions test problems, 5-shot, greedy, at most 256 new tokens,
stop at "Question:" (lm-eval's gsm8k v3 settings, which evalkit's
tasks/gsm8k.toml follows). The two tools draw their five examples
differently (evalkit: seeded per question; lm-eval: one sequential RNG over
its document order), so lm-eval is given the exact prompts evalkit builds, as
a 0-shot task that includes lm-eval's own gsm8k.yaml (its stop strings,
generation settings and strict/flexible answer filters). That compares
decoding and answer extraction on identical inputs. Runs alternate; the table
shows medians, questions/s, strict and flexible accuracy, how many outputs are
identical and how many extracted answers agree, and a cached evalkit rerun.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import benchlib as bl

TASK = "evalkit_gsm8k"
SEED = 1234  # the run seed in the generated config: it picks evalkit's few-shot examples


def export_prompts(n: int, out: Path) -> list[dict]:
    from evalkit.config import TaskOptions
    from evalkit.kinds.generate import prompt
    from evalkit.tasks.loading import load_task

    task = load_task("gsm8k")
    rows = [{"prompt": prompt(task, s, {"seed": SEED, "num_fewshot": None}), "question": s.row["question"],
             "answer": s.row["answer"]} for s in task.load_samples(TaskOptions(limit=n))]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def write_lmeval_task(folder: Path, data: Path, lmeval_root: Path) -> None:
    bl.clean(folder)
    (folder / f"{TASK}.yaml").write_text(
        f"include: {lmeval_root / 'tasks' / 'gsm8k' / 'gsm8k.yaml'}\n"
        f"task: {TASK}\n"
        "tag: null\n"
        "dataset_path: json\n"
        "dataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "training_split: null\n"
        "fewshot_split: null\n"
        "test_split: test\n"
        'doc_to_text: "{{prompt}}"\n'
        "num_fewshot: 0\n")


def compare(records: list[dict], lm_samples: list[dict]) -> dict:
    by_filter: dict[str, list[dict]] = {}
    for sample in sorted(lm_samples, key=lambda s: s["doc_id"]):
        by_filter.setdefault(sample["filter"], []).append(sample)
    strict, flexible = by_filter["strict-match"], by_filter["flexible-extract"]
    if len(strict) != len(records):
        raise SystemExit(f"evalkit answered {len(records)} questions, lm-eval {len(strict)}")
    n = len(records)
    texts = [s["resps"][0][0] for s in strict]
    identical = sum(r["response"] == t for r, t in zip(records, texts))
    same_strict = sum(_same_answer(r["scores"].get("gsm8k_strict_extracted"), s["filtered_resps"][0])
                      for r, s in zip(records, strict))
    return {"n": n, "identical": identical, "same_strict": same_strict,
            "strict": sum(r["scores"]["gsm8k_strict"] for r in records) / n,
            "flexible": sum(r["scores"]["gsm8k_flexible"] for r in records) / n,
            "strict_lmeval": sum(s["exact_match"] for s in strict) / n,
            "flexible_lmeval": sum(s["exact_match"] for s in flexible) / n}


def generated_tokens(model: Path, texts: list[str]) -> int:
    """Tokens of the generated answers (cut at the stop string), the same for both tools when the
    outputs are identical, which the table reports."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts)


def _same_answer(ours, theirs) -> bool:
    """lm-eval's filter returns "[invalid]" when nothing matched; evalkit stores None."""
    return (ours is None and theirs == "[invalid]") or (ours is not None and str(ours) == str(theirs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--questions", type=int, default=20, help="first N test problems (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per tool (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of both tools (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads for both tools (default: torch's choice)")
    parser.add_argument("--lmeval-venv", type=Path, default=bl.DEFAULT_VENV, help="default: %(default)s")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    bl.data_dir()
    work = bl.WORK / "gsm8k"
    program = bl.ensure_lmeval(args.lmeval_venv)
    model = bl.model_folder()
    data = work / "prompts.jsonl"
    export_prompts(args.questions, data)
    write_lmeval_task(work / "lmeval_tasks", data, bl.lmeval_site_packages(args.lmeval_venv))
    config = bl.write_evalkit_config(work / "evalkit", "bench", {"gsm8k": {"limit": args.questions}},
                                     "float32", args.batch_size)
    env = bl.offline_env(args.threads)

    def run_evalkit(repeat: int) -> bl.Timing:
        bl.fresh_store(config)
        return bl.timed(bl.evalkit_command(config, "bench"), env, work / f"evalkit-{repeat}.log")

    def run_lmeval(repeat: int) -> bl.Timing:
        output = bl.clean(work / "lmeval_out")
        command = bl.lmeval_command(program, model, TASK, work / "lmeval_tasks", output, "float32", args.batch_size,
                                    ["--num_fewshot", "0"])
        return bl.timed(command, env, work / f"lmeval-{repeat}.log")

    timings = bl.alternate({"evalkit": run_evalkit, "lm-eval": run_lmeval}, args.repeats)
    records, _ = bl.evalkit_outcome(config)
    cached = bl.timed(bl.evalkit_command(config, "bench"), env, work / "evalkit-cached.log")
    _, lm_samples = bl.lmeval_outputs(work / "lmeval_out")
    found = compare(records, lm_samples[TASK])
    wall = {name: bl.median([t.wall for t in ts]) for name, ts in timings.items()}
    cpu = {name: bl.median([t.cpu for t in ts]) for name, ts in timings.items()}
    n = found["n"]
    generated = generated_tokens(model, [r["response"] for r in records])
    table = bl.side_by_side([
        ("strict-match accuracy", f"{found['strict']:.3f}", f"{found['strict_lmeval']:.3f}", ""),
        ("flexible-extract accuracy", f"{found['flexible']:.3f}", f"{found['flexible_lmeval']:.3f}", ""),
        ("median wall time, s", f"{wall['evalkit']:.1f}", f"{wall['lm-eval']:.1f}", f"{wall['evalkit'] / wall['lm-eval']:.2f}"),
        ("questions/s", f"{n / wall['evalkit']:.3f}", f"{n / wall['lm-eval']:.3f}", f"{wall['lm-eval'] / wall['evalkit']:.2f}x"),
        (f"generated tokens/s ({generated} tokens, wall incl. start-up)", f"{generated / wall['evalkit']:.1f}",
         f"{generated / wall['lm-eval']:.1f}", f"{wall['lm-eval'] / wall['evalkit']:.2f}x"),
        ("median CPU time, s", f"{cpu['evalkit']:.1f}", f"{cpu['lm-eval']:.1f}", f"{cpu['evalkit'] / cpu['lm-eval']:.2f}"),
        ("cached rerun, s (wall / CPU)", f"{cached.wall:.1f} / {cached.cpu:.1f}", "", ""),
    ])
    notes = [f"identical outputs: {found['identical']} of {n}; same strict-match answer: {found['same_strict']} of {n}",
             "runs: " + "; ".join(f"{name} " + ", ".join(f"{t.wall:.0f}" for t in ts) + " s" for name, ts in timings.items())]
    print("\n".join(table + [""] + notes))
    if not args.no_append:
        setup = (f"GSM8K test, first {n} problems, 5-shot (evalkit's seeded examples; lm-eval given the same prompts), "
                 f"greedy, 256 new tokens, SmolLM2-135M-Instruct float32, batch size {args.batch_size} for both, "
                 f"threads {args.threads or 'default'}, {args.repeats} alternated runs each; wall times include start-up")
        bl.append_results("GSM8K: evalkit vs lm-eval", setup, table, notes, args.lmeval_venv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
