"""WikiText-2 perplexity: evalkit against lm-evaluation-harness on the same documents.

    python bench/bench_perplexity.py [--docs 6] [--repeats 3] [--full]

Both tools score the embedded SmolLM2-135M-Instruct (float32, CPU) on the first
--docs articles of WikiText-2 test as evalkit splits them from
$EVALKIT_DATA_DIR/wikitext-2/test.txt. lm-eval runs its own `wikitext` task
definition (included from its package: rolling windows, detokeniser, word and
byte counts on the original page) over a JSONL export of those same pages.
Runs alternate between the tools; the table shows medians, tokens/s (tokens
the model predicts), the ratio, and how far the two word perplexities and
per-document log-likelihoods are apart. A last evalkit run on the kept store
shows the cached rerun. --full then scores the whole test set with evalkit
alone, once. Exit status 1 when word perplexity differs by more than 0.5%.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import benchlib as bl

TOLERANCE = 0.005  # relative difference in word perplexity allowed between the tools
TASK = "evalkit_wikitext"


def export_pages(n_docs: int | None, out: Path) -> tuple[list[str], list[str]]:
    """The pages evalkit's wikitext task reads, as JSONL with a `page` field; returns (pages, texts scored)."""
    from evalkit.config import TaskOptions
    from evalkit.data.templates import render
    from evalkit.tasks.loading import load_task

    task = load_task("wikitext")
    samples = task.load_samples(TaskOptions(limit=n_docs))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as handle:
        for sample in samples:
            handle.write(json.dumps({"page": sample.row["page"], "title": sample.row["title"]}) + "\n")
    texts = [render(task.section("perplexity")["text"], s.row) for s in samples]
    return [s.row["page"] for s in samples], texts


def write_lmeval_task(folder: Path, pages: Path, lmeval_root: Path) -> None:
    """lm-eval's own wikitext.yaml, pointed at the local JSONL (no hub)."""
    bl.clean(folder)
    (folder / f"{TASK}.yaml").write_text(
        f"include: {lmeval_root / 'tasks' / 'wikitext' / 'wikitext.yaml'}\n"
        f"task: {TASK}\n"
        "dataset_path: json\n"
        "dataset_name: null\n"
        "dataset_kwargs:\n"
        f"  data_files:\n    test: {pages}\n"
        "training_split: null\n"
        "validation_split: null\n"
        "test_split: test\n")


def count_tokens(model: Path, texts: list[str]) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    return sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in texts)


def compare_documents(records: list[dict], lm_samples: list[dict]) -> tuple[float, int]:
    """Largest per-document |log-likelihood difference| and how many word counts differ."""
    by_doc = sorted(lm_samples, key=lambda s: s["doc_id"])
    if len(by_doc) != len(records):
        raise SystemExit(f"evalkit scored {len(records)} documents, lm-eval {len(by_doc)}")
    worst, word_mismatches = 0.0, 0
    for record, sample in zip(records, by_doc):
        ours = record["scores"]["loglikelihood"]
        theirs, words = sample["filtered_resps"][0], sample["word_perplexity"][1]
        theirs = theirs[0] if isinstance(theirs, list) else theirs
        worst = max(worst, abs(ours - float(theirs)))
        word_mismatches += record["scores"]["words"] != words
    return worst, word_mismatches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--docs", type=int, default=6, help="first N articles for the side-by-side (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="alternated runs per tool (default: %(default)s)")
    parser.add_argument("--full", action="store_true", help="also score all 62 test articles with evalkit, once")
    parser.add_argument("--batch-size", type=int, default=16, help="evalkit's batch_size (default: %(default)s)")
    parser.add_argument("--lmeval-batch-size", type=int, default=1,
                        help="lm-eval's --batch_size (default: %(default)s, its own default)")
    parser.add_argument("--threads", type=int, help="torch threads for both tools (default: torch's choice)")
    parser.add_argument("--lmeval-venv", type=Path, default=bl.DEFAULT_VENV, help="default: %(default)s")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    bl.data_dir()
    work = bl.WORK / "perplexity"
    program = bl.ensure_lmeval(args.lmeval_venv)
    model = bl.model_folder()
    pages_file = work / "wikitext_pages.jsonl"
    pages, texts = export_pages(args.docs, pages_file)
    tokens = count_tokens(model, texts)
    write_lmeval_task(work / "lmeval_tasks", pages_file, bl.lmeval_site_packages(args.lmeval_venv))
    config = bl.write_evalkit_config(work / "evalkit", "bench", {"wikitext": {"limit": args.docs}},
                                     "float32", args.batch_size)
    env = bl.offline_env(args.threads)
    print(f"{len(pages)} articles, {tokens} tokens to predict; model {model}", flush=True)

    def run_evalkit(repeat: int) -> bl.Timing:
        bl.fresh_store(config)
        return bl.timed(bl.evalkit_command(config, "bench"), env, work / f"evalkit-{repeat}.log")

    def run_lmeval(repeat: int) -> bl.Timing:
        output = bl.clean(work / "lmeval_out")
        command = bl.lmeval_command(program, model, TASK, work / "lmeval_tasks", output, "float32",
                                    args.lmeval_batch_size)
        return bl.timed(command, env, work / f"lmeval-{repeat}.log")

    timings = bl.alternate({"evalkit": run_evalkit, "lm-eval": run_lmeval}, args.repeats)
    records, rows = bl.evalkit_outcome(config)
    scoring = bl.evalkit_task_seconds(config)  # of the last evalkit run, before the cached rerun replaces it
    cached = bl.timed(bl.evalkit_command(config, "bench"), env, work / "evalkit-cached.log")
    lm_results, lm_samples = bl.lmeval_outputs(work / "lmeval_out")

    ours = bl.metric(rows, "word_perplexity")
    theirs = lm_results["results"][TASK]["word_perplexity,none"]
    relative = abs(ours - theirs) / theirs
    worst_doc, word_mismatches = compare_documents(records, lm_samples[TASK])
    wall = {name: bl.median([t.wall for t in ts]) for name, ts in timings.items()}
    cpu = {name: bl.median([t.cpu for t in ts]) for name, ts in timings.items()}
    table = bl.side_by_side([
        ("word perplexity", f"{ours:.4f}", f"{theirs:.4f}", f"{ours / theirs:.6f}"),
        ("median wall time, s", f"{wall['evalkit']:.1f}", f"{wall['lm-eval']:.1f}", f"{wall['evalkit'] / wall['lm-eval']:.2f}"),
        ("tokens/s (wall)", f"{tokens / wall['evalkit']:.0f}", f"{tokens / wall['lm-eval']:.0f}",
         f"{wall['lm-eval'] / wall['evalkit']:.2f}x"),
        ("median CPU time, s", f"{cpu['evalkit']:.1f}", f"{cpu['lm-eval']:.1f}", f"{cpu['evalkit'] / cpu['lm-eval']:.2f}"),
        ("evalkit tokens/s while scoring (no start-up; compare bench_ceiling.py)", f"{tokens / scoring:.0f}", "", ""),
        ("cached rerun, s (wall / CPU)", f"{cached.wall:.1f} / {cached.cpu:.1f}", "", ""),
    ])
    notes = [f"word perplexity differs by {relative:.2e} (relative; allowed {TOLERANCE}); largest per-document "
             f"log-likelihood difference {worst_doc:.4f} nats; word counts differing: {word_mismatches} of {len(records)}",
             "runs: " + "; ".join(f"{n} " + ", ".join(f"{t.wall:.0f}" for t in ts) + " s" for n, ts in timings.items())]
    if args.full:
        notes.append(full_set(args, env, tokens_of_all(model)))
    print("\n".join(table + [""] + notes))
    if not args.no_append:
        setup = (f"WikiText-2 test, first {len(pages)} articles ({tokens} tokens), SmolLM2-135M-Instruct float32, "
                 f"evalkit batch_size {args.batch_size}, lm-eval --batch_size {args.lmeval_batch_size}, "
                 f"threads {args.threads or 'default'}, {args.repeats} alternated runs each, wall times include "
                 "start-up and model load")
        bl.append_results("Perplexity: evalkit vs lm-eval (WikiText-2)", setup, table, notes, args.lmeval_venv)
    return 0 if relative <= TOLERANCE and word_mismatches == 0 else 1


def tokens_of_all(model: Path) -> int:
    _, texts = export_pages(None, bl.WORK / "perplexity" / "all_pages.jsonl")
    return count_tokens(model, texts)


def full_set(args, env, tokens: int) -> str:
    """The whole test set, evalkit alone (lm-eval side by side on it takes too long on a small CPU)."""
    folder = bl.WORK / "perplexity" / "evalkit-full"
    config = bl.write_evalkit_config(folder, "bench", {"wikitext": {}}, "float32", args.batch_size)
    bl.fresh_store(config)
    timing = bl.timed(bl.evalkit_command(config, "bench"), env, folder / "run.log")
    _, rows = bl.evalkit_outcome(config)
    ppl = {name: bl.metric(rows, name) for name in ("word_perplexity", "byte_perplexity", "bits_per_byte")}
    return (f"full test set (62 articles, {tokens} tokens), evalkit alone: word perplexity "
            f"{ppl['word_perplexity']:.4f}, byte perplexity {ppl['byte_perplexity']:.5f}, bits per byte "
            f"{ppl['bits_per_byte']:.5f}; {timing.wall:.0f} s wall ({tokens / timing.wall:.0f} tokens/s), "
            f"{timing.cpu:.0f} s CPU")


if __name__ == "__main__":
    raise SystemExit(main())
