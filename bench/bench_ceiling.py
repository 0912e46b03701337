"""The ceiling: tokens/s of a plain torch forward of the same model, float32 and bfloat16.

    python bench/bench_ceiling.py [--lengths 512,2048,8192] [--dtypes float32,bfloat16] [--repeats 5]

For each sequence length and dtype, one sequence of real text (WikiText-2 test,
as evalkit reads it) goes through the embedded SmolLM2-135M-Instruct the
textbook way: decoder, LM head over the whole vocabulary, log-softmax, gather
of the next tokens. That is all a perplexity needs, so no harness can beat it
on the same windows; evalkit's backend scores the same tokens in the same
process (loglikelihood_rolling) and the ratio shows what the harness costs on
top. Runs alternate between the two; medians are printed. The machine's
bfloat16 speed depends on AVX512-BF16/AMX, which the output names.
"""

from __future__ import annotations

import argparse
import os
import time

import benchlib as bl


def sample_tokens(tokenizer, length: int) -> list[int]:
    """The first `length` tokens of WikiText-2 test, detokenised as the wikitext task scores it."""
    from evalkit.config import TaskOptions
    from evalkit.data.templates import render
    from evalkit.tasks.loading import load_task

    task = load_task("wikitext")
    tokens: list[int] = []
    for sample in task.load_samples(TaskOptions()):
        tokens += tokenizer.encode(render(task.section("perplexity")["text"], sample.row), add_special_tokens=False)
        if len(tokens) >= length:
            return tokens[:length]
    raise SystemExit(f"WikiText-2 test has fewer than {length} tokens")


def plain_forward(model, prefix: int, tokens: list[int]) -> float:
    import torch

    ids = torch.tensor([[prefix] + tokens[:-1]])
    with torch.inference_mode():
        logits = model(ids).logits[0].float()
        return float(torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(tokens)[:, None]).sum())


def evalkit_rolling(backend, tokens: list[int]) -> float:
    windows = [(0, [backend.prefix_token], tokens)]  # the window loglikelihood_rolling builds for one document
    return backend._score_windows(windows)[0][1]


def timed(function, *args) -> tuple[float, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, value


def measure(dtype: str, lengths: list[int], repeats: int) -> list[tuple[str, ...]]:
    import torch
    from transformers import AutoModelForCausalLM

    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec

    folder = bl.model_folder()
    backend = HFBackend(ModelSpec(name="base", source=str(folder), dtype=dtype), folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
    rows = []
    for length in lengths:
        tokens = sample_tokens(backend.tokenizer, length)
        plain_forward(model, backend.prefix_token, tokens[:64])  # warm-up: first-call allocations
        plain, ours = [], []
        for _ in range(repeats):
            plain.append(timed(plain_forward, model, backend.prefix_token, tokens))
            with torch.inference_mode():
                ours.append(timed(evalkit_rolling, backend, tokens))
        p_wall, o_wall = bl.median([t[0] for t in plain]), bl.median([t[0] for t in ours])
        p_cpu, o_cpu = bl.median([t[1] for t in plain]), bl.median([t[1] for t in ours])
        gap = abs(plain[0][2] - ours[0][2])
        print(f"{dtype:8s} {length:5d} tokens: plain {length / p_wall:6.0f} tok/s, evalkit {length / o_wall:6.0f} tok/s "
              f"(log-likelihoods {gap:.4f} nats apart)", flush=True)
        rows.append((dtype, str(length), f"{length / p_wall:.0f}", f"{length / p_cpu:.0f}", f"{length / o_wall:.0f}",
                     f"{length / o_cpu:.0f}", f"{p_wall / o_wall:.2f}"))
    return rows


def documents_vs_plain(dtype: str, n_docs: int, repeats: int) -> tuple[list[str], list[str]]:
    """The perplexity workload itself: the first `n_docs` WikiText-2 test articles, plain forwards over
    exactly the windows evalkit scores (lm-eval's rolling windows), against evalkit's
    loglikelihood_rolling at the configured batch size. Tokens counted are forward tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    from evalkit.backends.hf import HFBackend
    from evalkit.backends.tokens import rolling_windows
    from evalkit.config import ModelSpec, TaskOptions
    from evalkit.data.templates import render
    from evalkit.tasks.loading import load_task
    from evalkit.types import RollingRequest

    folder = bl.model_folder()
    backend = HFBackend(ModelSpec(name="base", source=str(folder), dtype=dtype, batch_size=16), folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
    task = load_task("wikitext")
    texts = [render(task.section("perplexity")["text"], s.row) for s in task.load_samples(TaskOptions(limit=n_docs))]
    windows = [w for t in texts for w in rolling_windows(backend.encode(t), backend.prefix_token, backend.max_length)]
    forward_tokens = sum(len(ctx) + len(pred) - 1 for ctx, pred in windows)

    def plain() -> float:
        total = 0.0
        for ctx, pred in windows:
            ids = torch.tensor([(ctx + pred)[:-1]])
            with torch.inference_mode():
                logits = model(ids).logits[0, len(ctx) - 1:].float()
                total += float(torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(pred)[:, None]).sum())
        return total

    def ours() -> float:
        return sum(r.logprob for _, r in backend.loglikelihood_rolling([RollingRequest(t) for t in texts]))

    plain_times, our_times = [], []
    for _ in range(repeats):
        plain_times.append(timed(plain))
        our_times.append(timed(ours))
    p_wall, o_wall = bl.median([t[0] for t in plain_times]), bl.median([t[0] for t in our_times])
    gap = abs(plain_times[0][2] - our_times[0][2])
    row = (f"| {dtype} | first {n_docs} articles, {len(windows)} windows, {forward_tokens} forward tokens | "
           f"{forward_tokens / p_wall:.0f} | {forward_tokens / o_wall:.0f} | {p_wall / o_wall:.2f} |")
    note = (f"{dtype}: log-likelihood totals {gap:.4f} nats apart; runs plain "
            + ", ".join(f"{t[0]:.0f}" for t in plain_times) + " s, evalkit " + ", ".join(f"{t[0]:.0f}" for t in our_times) + " s")
    print(row, note, sep="\n", flush=True)
    return [row], [note]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--lengths", default="512,2048,8192", help="comma-separated window lengths (default: %(default)s)")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated dtypes (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="alternated runs each (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--documents", type=int, default=0,
                        help="instead: the perplexity workload, the first N WikiText-2 articles' windows (e.g. 6)")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    bl.data_dir()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["EVALKIT_THREADS"] = str(args.threads)
    if args.documents:
        return documents_mode(args)
    lengths = [int(n) for n in args.lengths.split(",")]
    rows = [row for dtype in args.dtypes.split(",") for row in measure(dtype, lengths, args.repeats)]
    table = ["| dtype | tokens | plain forward tok/s | plain tok/CPU-s | evalkit tok/s | evalkit tok/CPU-s | evalkit / plain |",
             "|---|---:|---:|---:|---:|---:|---:|"] + ["| " + " | ".join(row) + " |" for row in rows]
    print("\n".join(table))
    if not args.no_append:
        setup = (f"SmolLM2-135M-Instruct, one window of WikiText-2 test text per length, batch 1, torch threads "
                 f"{torch.get_num_threads()}, medians of {args.repeats} alternated runs; plain = model(ids).logits, "
                 "log_softmax, gather; evalkit = HFBackend's window scoring on the same tokens")
        bl.append_results("Ceiling: plain torch forward vs evalkit's backend", setup, table, [], bl.DEFAULT_VENV)
    return 0


def documents_mode(args) -> int:
    import torch

    table = ["| dtype | workload | plain forward tok/s | evalkit tok/s | evalkit / plain |", "|---|---|---:|---:|---:|"]
    notes = []
    for dtype in args.dtypes.split(","):
        rows, more = documents_vs_plain(dtype, args.documents, args.repeats)
        table, notes = table + rows, notes + more
    print("\n".join(table))
    if not args.no_append:
        setup = (f"SmolLM2-135M-Instruct on the perplexity workload: plain = one model(ids) per window with the full "
                 f"LM head, log_softmax, gather; evalkit = loglikelihood_rolling over the same articles at batch_size 16; "
                 f"torch threads {torch.get_num_threads()}; medians of {args.repeats} alternated runs")
        bl.append_results("Ceiling on the perplexity workload", setup, table, notes, bl.DEFAULT_VENV)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
