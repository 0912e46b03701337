"""Generation throughput: evalkit's continuous batching against lm-eval's hf backend and plain
`model.generate`, on the same GSM8K prompts, in one process.

    python bench/bench_generate.py [--questions 20] [--tokens 256] [--batch-size 16] [--repeats 2]

The prompts are evalkit's own 5-shot GSM8K prompts (bench_gsm8k.py exports the same), greedy,
stop at lm-eval's gsm8k stop strings, at most --tokens new tokens. Three engines take the whole
list at the same batch size:

- evalkit: HFBackend.generate (continuous batching: a waiting prompt takes the slot of a row that ended);
- lm-eval: `lm_eval.models.huggingface.HFLM.generate_until`, as its gsm8k task calls it;
- generate: static batches of `model.generate(stop_strings=...)`, longest prompts first, left-padded:
  the plain transformers ceiling for a static batch (a finished row waits for its batch to end).

Runs alternate (the order rotates each round); the table shows medians of wall time and of
generated tokens/s (tokens of the kept text, cut at the stop string, so every engine is counted
the same way), the per-round ratios' median, and how many texts equal evalkit's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import benchlib as bl

STOPS = ["Question:", "</s>", "<|im_end|>"]  # tasks/gsm8k.toml, as lm-eval's gsm8k.yaml


def evalkit_engine(model: Path, batch_size: int):
    from dataclasses import replace

    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec
    from evalkit.types import GenerationRequest

    backend = HFBackend(replace(ModelSpec(name="bench", source=str(model)), batch_size=batch_size), model)

    def run(prompts: list[str], tokens: int) -> list[str]:
        out = dict(backend.generate([GenerationRequest(p, max_new_tokens=tokens, stop=tuple(STOPS)) for p in prompts]))
        return [out[i].text for i in range(len(prompts))]

    return backend, run


def lmeval_engine(model: Path, batch_size: int):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(model), device="cpu", dtype="float32", batch_size=batch_size)

    def run(prompts: list[str], tokens: int) -> list[str]:
        settings = {"until": STOPS, "max_gen_toks": tokens, "do_sample": False, "temperature": 0.0}
        requests = [Instance(request_type="generate_until", doc={}, arguments=(p, dict(settings)), idx=0)
                    for p in prompts]
        return lm.generate_until(requests, disable_tqdm=True)

    return run


def generate_engine(backend, batch_size: int):
    import torch

    from evalkit.backends.tokens import cut_at_stops

    tokenizer, model = backend.tokenizer, backend.model

    def run(prompts: list[str], tokens: int) -> list[str]:
        encoded = [backend.encode(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        texts = [""] * len(prompts)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), backend.pad_token)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                ids[row, width - len(encoded[i]):], mask[row, width - len(encoded[i]):] = torch.tensor(encoded[i]), 1
            with torch.inference_mode():
                out = model.generate(ids, attention_mask=mask, max_new_tokens=tokens, do_sample=False,
                                     stop_strings=STOPS, tokenizer=tokenizer, pad_token_id=backend.pad_token)
            for row, i in enumerate(chunk):
                texts[i] = cut_at_stops(tokenizer.decode(out[row, width:], skip_special_tokens=True), STOPS)
        return texts

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--questions", type=int, default=20, help="first N GSM8K test problems (default: %(default)s)")
    parser.add_argument("--tokens", type=int, default=256, help="most new tokens per answer (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="the same for every engine (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated rounds (default: %(default)s)")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    from bench_gsm8k import export_prompts

    bl.data_dir()
    model = bl.model_folder()
    prompts = [row["prompt"] for row in export_prompts(args.questions, bl.WORK / "generate" / "prompts.jsonl")]
    backend, evalkit = evalkit_engine(model, args.batch_size)
    engines = {"evalkit": evalkit, "lm-eval": lmeval_engine(model, args.batch_size),
               "generate": generate_engine(backend, args.batch_size)}
    for engine in engines.values():  # a first forward pays one-off kernel set-up: not part of any figure
        engine(prompts[:2], 4)
    walls: dict[str, list[float]] = {name: [] for name in engines}
    texts: dict[str, list[str]] = {}
    names = list(engines)
    for round_ in range(args.repeats):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.perf_counter()
            texts[name] = engines[name](prompts, args.tokens)
            walls[name].append(time.perf_counter() - start)
            print(f"round {round_ + 1}: {name} {walls[name][-1]:.1f} s", flush=True)
    report(args, backend, prompts, walls, texts)
    return 0


def report(args, backend, prompts, walls, texts) -> None:
    generated = {name: sum(len(backend.encode(t)) for t in ts) for name, ts in texts.items()}
    prompt_tokens = sum(len(backend.encode(p)) for p in prompts)
    rate = {name: generated[name] / bl.median(w) for name, w in walls.items()}
    ratio = {name: bl.median([walls[name][r] / walls["evalkit"][r] for r in range(args.repeats)]) for name in walls}
    table = ["| | evalkit | lm-eval hf | model.generate |", "|---|---:|---:|---:|",
             "| median wall time, s | " + " | ".join(f"{bl.median(walls[n]):.1f}" for n in walls) + " |",
             "| generated tokens (kept text) | " + " | ".join(str(generated[n]) for n in walls) + " |",
             "| generated tokens/s | " + " | ".join(f"{rate[n]:.1f}" for n in walls) + " |",
             "| evalkit speed-up (median of per-round wall ratios) | 1.00x | "
             + " | ".join(f"{ratio[n]:.2f}x" for n in ("lm-eval", "generate")) + " |",
             "| texts identical to evalkit's | | "
             + " | ".join(f"{sum(a == b for a, b in zip(texts['evalkit'], texts[n]))} of {len(prompts)}"
                          for n in ("lm-eval", "generate")) + " |"]
    notes = ["runs: " + "; ".join(f"{n} " + ", ".join(f"{w:.0f}" for w in ws) + " s" for n, ws in walls.items()),
             (f"{len(prompts)} prompts, {prompt_tokens} prompt tokens (read by every engine; no shared prefix: "
              "evalkit draws each question's five examples with its own seed)")]
    print("\n".join(table + [""] + notes))
    if not args.no_append:
        setup = (f"GSM8K test, first {len(prompts)} problems, evalkit's 5-shot prompts, greedy, {args.tokens} new "
                 f"tokens at most, stop {STOPS}, SmolLM2-135M-Instruct float32, batch size {args.batch_size} for "
                 f"every engine, one process, {args.repeats} alternated rounds after one warm-up call each; wall time of the generation call only")
        bl.append_results("Generation: evalkit continuous batching vs lm-eval hf vs model.generate", setup, table,
                          notes, Path(sys.prefix))  # lm-eval runs in this process, so this venv's versions


if __name__ == "__main__":
    raise SystemExit(main())
