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
    from evalkit.tasks import load_task
    from evalkit.templates import render

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--lengths", default="512,2048,8192", help="comma-separated window lengths (default: %(default)s)")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated dtypes (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="alternated runs each (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    bl.data_dir()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["EVALKIT_THREADS"] = str(args.threads)
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


if __name__ == "__main__":
    raise SystemExit(main())
