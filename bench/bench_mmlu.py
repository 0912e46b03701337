"""MMLU: evalkit against lm-evaluation-harness on the same questions, 0-shot and 5-shot.

    python bench/bench_mmlu.py [--subjects a,b,c,d] [--per-subject 50] [--shots 0,5] [--repeats 2]

The first --per-subject test questions of each subject, as evalkit's `mmlu`
task reads them from $EVALKIT_DATA_DIR/mmlu, are exported to JSONL (with the
dev questions of the same subjects for few-shot examples). evalkit runs its
built-in tasks/mmlu.toml retargeted to that file; lm-eval runs its own
`mmlu` default template (included from its package) per subject over the same
files. Runs alternate; the table shows medians, questions/s, accuracy, how
often the two pick the same answer and the largest per-choice log-likelihood
difference, and a cached evalkit rerun. Exit status 1 when a picked answer differs
anywhere but at a near-tie (bench/agreement.py); each differing question is listed.
`--subjects all --per-subject 0 --shots 0 --chunk 5` is the whole test set (14,042), five subjects
at a time, resumable: each chunk's figures go to a ledger under bench/.work, and the report (with
every differing question) comes when the last chunk is done.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import agreement
import benchlib as bl

SUBJECTS = "abstract_algebra,anatomy,astronomy,business_ethics"  # the first four, alphabetically


def export_questions(subjects: list[str], per_subject: int, folder: Path) -> Path:
    """Test and dev rows per subject in evalkit's fields (question, choices, answer, subject)."""
    from evalkit.config import TaskOptions
    from evalkit.data import fewshot
    from evalkit.tasks.loading import load_task

    task = load_task("mmlu")
    bl.clean(folder)
    everything = folder / "test_all.jsonl"
    with everything.open("w") as combined:
        for subject in subjects:
            rows = [s.row for s in task.load_samples(TaskOptions(subjects=(subject,), limit=per_subject or None))]
            dev = fewshot.pool(task, {}).groups.get(subject, [])
            for name, data in ((f"test_{subject}.jsonl", rows), (f"dev_{subject}.jsonl", dev)):
                (folder / name).write_text("".join(json.dumps(_fields(r)) + "\n" for r in data))
            combined.write("".join(json.dumps(_fields(r)) + "\n" for r in rows))
    return everything


def all_subjects() -> list[str]:
    """Every subject of the test split, in the task's order."""
    from evalkit.config import TaskOptions
    from evalkit.tasks.loading import load_task

    return list(dict.fromkeys(s.row["subject"] for s in load_task("mmlu").load_samples(TaskOptions())))


def _fields(row: dict) -> dict:
    return {key: row[key] for key in ("question", "choices", "answer", "subject")}


def write_lmeval_tasks(folder: Path, data: Path, subjects: list[str], lmeval_root: Path) -> str:
    bl.clean(folder)
    template = lmeval_root / "tasks" / "mmlu" / "default" / "_default_template_yaml"
    for subject in subjects:
        description = f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"
        (folder / f"evalkit_mmlu_{subject}.yaml").write_text(
            f"include: {template}\n"
            f"task: evalkit_mmlu_{subject}\n"
            "dataset_path: json\n"
            "dataset_name: null\n"
            "dataset_kwargs:\n  data_files:\n"
            f"    test: {data / f'test_{subject}.jsonl'}\n"
            f"    dev: {data / f'dev_{subject}.jsonl'}\n"
            f"description: {json.dumps(description)}\n")
    return ",".join(f"evalkit_mmlu_{s}" for s in subjects)


def compare(records: list[dict], lm_samples: dict[str, list[dict]], subjects: list[str]) -> dict:
    """Answer agreement and log-likelihood differences, question by question in file order."""
    theirs = [s for subject in subjects for s in sorted(lm_samples[f"evalkit_mmlu_{subject}"], key=lambda s: s["doc_id"])]
    if len(theirs) != len(records):
        raise SystemExit(f"evalkit scored {len(records)} questions, lm-eval {len(theirs)}")
    ours = [record["scores"]["loglikelihoods"] for record in records]
    other = [[float(r[0]) for r in sample["filtered_resps"]] for sample in theirs]
    worst = max(abs(a - b) for x, y in zip(ours, other) for a, b in zip(x, y))
    differing = agreement.disagreements(ours, other)
    n = len(records)
    return {"n": n, "agree": 1 - len(differing) / n, "worst": worst, "differing": differing, "ours": ours, "theirs": other,
            "acc": sum(r["scores"]["acc"] for r in records) / n, "acc_lmeval": sum(s["acc"] for s in theirs) / n}


def bench_shots(args, shots: int, env, program: Path, model: Path, data: Path, tasks: str) -> tuple[list[str], list[str], bool]:
    work = bl.WORK / "mmlu" / f"{shots}shot"
    config_dir = work / "evalkit"
    bl.retarget_task(bl.REPO / "tasks" / "mmlu.toml", data, config_dir)
    config = bl.write_evalkit_config(config_dir, "bench", {"mmlu": {"num_fewshot": shots}}, "float32", args.batch_size)

    def run_evalkit(repeat: int) -> bl.Timing:
        bl.fresh_store(config)
        return bl.timed(bl.evalkit_command(config, "bench"), env, work / f"evalkit-{repeat}.log")

    runs = {"evalkit": run_evalkit}
    if args.bf16:  # same questions in bfloat16: the speed the CPU's BF16 units give, and what it changes
        bf16_dir = work / "evalkit_bf16"
        bl.retarget_task(bl.REPO / "tasks" / "mmlu.toml", data, bf16_dir)
        bf16_config = bl.write_evalkit_config(bf16_dir, "bench", {"mmlu": {"num_fewshot": shots}}, "bfloat16",
                                              args.batch_size)

        def run_bf16(repeat: int) -> bl.Timing:
            bl.fresh_store(bf16_config)
            return bl.timed(bl.evalkit_command(bf16_config, "bench"), env, work / f"evalkit-bf16-{repeat}.log")

        runs["bf16"] = run_bf16

    def run_lmeval(repeat: int) -> bl.Timing:
        output = bl.clean(work / "lmeval_out")
        command = bl.lmeval_command(program, model, tasks, bl.WORK / "mmlu" / "lmeval_tasks", output, "float32",
                                    args.batch_size, ["--num_fewshot", str(shots)])
        return bl.timed(command, env, work / f"lmeval-{repeat}.log")

    print(f"{shots}-shot:", flush=True)
    timings = bl.alternate({**runs, "lm-eval": run_lmeval}, args.repeats)
    records, _ = bl.evalkit_outcome(config)
    evalkit_scoring = bl.evalkit_task_seconds(config)  # before the cached rerun becomes the latest run
    cached = bl.timed(bl.evalkit_command(config, "bench"), env, work / "evalkit-cached.log")
    _, lm_samples = bl.lmeval_outputs(work / "lmeval_out")
    found = compare(records, lm_samples, args.subjects.split(","))
    wall = {name: bl.median([t.wall for t in ts]) for name, ts in timings.items()}
    cpu = {name: bl.median([t.cpu for t in ts]) for name, ts in timings.items()}
    n = found["n"]
    rows = [
        (f"{shots}-shot accuracy", f"{found['acc']:.3f}", f"{found['acc_lmeval']:.3f}", ""),
        (f"{shots}-shot median wall time, s", f"{wall['evalkit']:.1f}", f"{wall['lm-eval']:.1f}",
         f"{wall['evalkit'] / wall['lm-eval']:.2f}"),
        (f"{shots}-shot questions/s", f"{n / wall['evalkit']:.2f}", f"{n / wall['lm-eval']:.2f}",
         f"{wall['lm-eval'] / wall['evalkit']:.2f}x"),
        (f"{shots}-shot median CPU time, s", f"{cpu['evalkit']:.1f}", f"{cpu['lm-eval']:.1f}",
         f"{cpu['evalkit'] / cpu['lm-eval']:.2f}"),
        (f"{shots}-shot cached rerun, s (wall / CPU)", f"{cached.wall:.1f} / {cached.cpu:.1f}", "", ""),
    ]
    if args.bf16:
        bf16_records, _ = bl.evalkit_outcome(bf16_config)
        changed = sum(_picked(a) != _picked(b) for a, b in zip(records, bf16_records))
        correct = sum(r["scores"]["acc"] for r in bf16_records) - sum(r["scores"]["acc"] for r in records)
        rows += [
            (f"{shots}-shot bfloat16 accuracy (evalkit)", f"{found['acc'] + correct / n:.3f}", "", ""),
            (f"{shots}-shot bfloat16 questions/s vs lm-eval float32", f"{n / wall['bf16']:.2f}",
             f"{n / wall['lm-eval']:.2f}", f"{wall['lm-eval'] / wall['bf16']:.2f}x"),
            (f"{shots}-shot bfloat16 answers changed vs float32", f"{changed} of {n} ({correct:+.0f} correct)", "", ""),
        ]
    notes = [f"{shots}-shot: same answer on {found['agree']:.1%} of {n} questions; largest per-choice "
             f"log-likelihood difference {found['worst']:.5f} nats; runs: "
             + "; ".join(f"{name} " + ", ".join(f"{t.wall:.0f}" for t in ts) + " s" for name, ts in timings.items())]
    notes += [d.line(f"{shots}-shot") for d in found["differing"]]
    summary = {"n": n, "wall": wall, "cpu": cpu, "acc": found["acc"], "acc_lmeval": found["acc_lmeval"],
               "ours": found["ours"], "theirs": found["theirs"],
               "scoring": {"evalkit": evalkit_scoring,
                           "lm-eval": agreement.lmeval_scoring_seconds(work / f"lmeval-{args.repeats - 1}.log")}}
    return bl.side_by_side(rows), notes, not any(not d.tie for d in found["differing"]), summary


def chunked(args, env, program: Path, model: Path, subjects: list[str]) -> int:
    """The test set a few subjects at a time, both tools on each chunk in turn, every chunk's figures
    kept in a ledger under bench/.work: a run stopped part-way resumes at the chunk it was in, and a
    whole-MMLU comparison (hours on a small CPU) can be spread over several sittings."""
    shots = int(args.shots)
    ledger_path = bl.WORK / "mmlu" / f"ledger-{shots}shot-{args.per_subject}.json"
    ledger = json.loads(ledger_path.read_text()) if ledger_path.exists() else {}
    chunks = [subjects[i : i + args.chunk] for i in range(0, len(subjects), args.chunk)]
    args.repeats, args.bf16 = 1, False
    for number, chunk in enumerate(chunks, start=1):
        key = ",".join(chunk)
        if key in ledger:
            continue
        print(f"chunk {number}/{len(chunks)}: {key}", flush=True)
        args.subjects = key
        data = export_questions(chunk, args.per_subject, bl.WORK / "mmlu" / "data")
        tasks = write_lmeval_tasks(bl.WORK / "mmlu" / "lmeval_tasks", bl.WORK / "mmlu" / "data", chunk,
                                   bl.lmeval_site_packages(args.lmeval_venv))
        *_, summary = bench_shots(args, shots, env, program, model, data, tasks)
        ledger[key] = {**summary, "finished": time.strftime("%Y-%m-%d %H:%M"), "machine": bl.machine()}
        ledger_path.write_text(json.dumps(ledger))
    table, notes = ledger_report([ledger[",".join(c)] for c in chunks], shots)
    print("\n".join(table + [""] + notes))
    if not args.no_append:
        setup = (f"MMLU test, {'all' if args.per_subject == 0 else f'first {args.per_subject}'} questions of all "
                 f"{len(subjects)} subjects, {shots}-shot, {len(chunks)} chunks of {args.chunk} subjects (each chunk: "
                 f"evalkit then lm-eval, one run each; finished {min(ledger[','.join(c)]['finished'] for c in chunks)} "
                 f"to {max(ledger[','.join(c)]['finished'] for c in chunks)}); SmolLM2-135M-Instruct float32; batch size "
                 f"{args.batch_size} for both")
        bl.append_results("MMLU at full size: evalkit vs lm-eval", setup, table, notes, args.lmeval_venv)
    return 0 if not any(not d.tie for d in agreement.disagreements(
        [o for e in ledger.values() for o in e["ours"]], [t for e in ledger.values() for t in e["theirs"]])) else 1


def ledger_report(entries: list[dict], shots: int) -> tuple[list[str], list[str]]:
    ours = [o for e in entries for o in e["ours"]]
    theirs = [t for e in entries for t in e["theirs"]]
    n = len(ours)
    total = {side: {what: sum(e[what][side] or 0 for e in entries) for what in ("wall", "cpu", "scoring")}
             for side in ("evalkit", "lm-eval")}
    acc = {side: sum(e[key] * e["n"] for e in entries) / n for side, key in (("evalkit", "acc"), ("lm-eval", "acc_lmeval"))}
    e, lm = total["evalkit"], total["lm-eval"]
    rows = [(f"{shots}-shot accuracy ({n:,} questions)", f"{acc['evalkit']:.4f}", f"{acc['lm-eval']:.4f}", ""),
            ("wall time, s (start-up included, per chunk)", f"{e['wall']:.0f}", f"{lm['wall']:.0f}",
             f"{lm['wall'] / e['wall']:.2f}x faster"),
            ("scoring time, s (evalkit's tasks; lm-eval's log-likelihood requests)", f"{e['scoring']:.0f}",
             f"{lm['scoring']:.0f}", f"{lm['scoring'] / e['scoring']:.2f}x faster"),
            ("CPU time, s", f"{e['cpu']:.0f}", f"{lm['cpu']:.0f}", f"{e['cpu'] / lm['cpu']:.2f}")]
    differing = agreement.disagreements(ours, theirs)
    worst = max(abs(a - b) for x, y in zip(ours, theirs) for a, b in zip(x, y))
    notes = [f"same answer on {n - len(differing):,} of {n:,} questions; largest per-choice log-likelihood "
             f"difference {worst:.2e} nats"] + [d.line(f"{shots}-shot") for d in differing]
    return bl.side_by_side(rows), notes


def _picked(record: dict) -> int:
    scores = record["scores"]["loglikelihoods"]
    return max(range(len(scores)), key=scores.__getitem__)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--subjects", default=SUBJECTS,
                        help="comma-separated MMLU subjects, or all (default: %(default)s)")
    parser.add_argument("--per-subject", type=int, default=50,
                        help="first N test questions each, 0: all (default: %(default)s)")
    parser.add_argument("--shots", default="0,5", help="comma-separated few-shot counts (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per tool (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size of both tools (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads for both tools (default: torch's choice)")
    parser.add_argument("--bf16", action="store_true", help="also time evalkit in bfloat16 and count changed answers")
    parser.add_argument("--lmeval-venv", type=Path, default=bl.DEFAULT_VENV, help="default: %(default)s")
    parser.add_argument("--chunk", type=int, default=0,
                        help="run N subjects at a time, keeping each chunk's figures in a ledger so a stopped "
                             "run resumes (one --shots value; default: all at once)")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    bl.data_dir()
    subjects = all_subjects() if args.subjects == "all" else args.subjects.split(",")
    args.subjects = ",".join(subjects)
    program = bl.ensure_lmeval(args.lmeval_venv)
    model = bl.model_folder()
    env = bl.offline_env(args.threads)
    if args.chunk:
        return chunked(args, env, program, model, subjects)
    data = bl.WORK / "mmlu" / "data"
    everything = export_questions(subjects, args.per_subject, data)
    tasks = write_lmeval_tasks(bl.WORK / "mmlu" / "lmeval_tasks", data, subjects, bl.lmeval_site_packages(args.lmeval_venv))
    table, notes, ok = [], [], True
    for shots in (int(s) for s in args.shots.split(",")):
        rows, more, agreed, _ = bench_shots(args, shots, env, program, model, everything, tasks)
        table += rows if not table else rows[2:]  # one header
        notes += more
        ok = ok and agreed
    print("\n".join(table + [""] + notes))
    if not args.no_append:
        which = (f"all {len(subjects)} subjects" if len(subjects) > 8 else ", ".join(subjects))
        count = "all" if args.per_subject == 0 else f"first {args.per_subject}"
        setup = (f"MMLU test, {count} questions of {which}; few-shot from dev (first n); "
                 f"SmolLM2-135M-Instruct float32; batch size {args.batch_size} for both; threads "
                 f"{args.threads or 'default'}; {args.repeats} alternated runs each; wall times include start-up"
                 + ("; evalkit also in bfloat16 (--bf16)" if args.bf16 else ""))
        bl.append_results("MMLU: evalkit vs lm-eval", setup, table, notes, args.lmeval_venv)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
