"""Generation throughput: evalkit's continuous batching against lm-eval's hf backend and plain
`model.generate`, on the same prompts, in one process.

    python bench/bench_generate.py [--workload gsm8k|answers] [--questions 20] [--tokens 256]
                                   [--batch-size 16] [--generate-batch-sizes 4,8,16,32] [--repeats 2]

Two workloads, each given as prompt strings every engine reads alike:

- gsm8k: evalkit's own 5-shot GSM8K prompts for the first --questions test problems (bench_gsm8k.py
  exports the same), stop at lm-eval's gsm8k stop strings, at most --tokens new tokens;
- answers: the default prompt set's 24 instructions in the model's chat template, as `evalkit answers`
  and the judges read them, at most the set's own max_new_tokens, stop at end-of-sequence.

Greedy throughout. The engines:

- evalkit: HFBackend.generate (continuous batching: a waiting prompt takes the slot of a row that ended),
  on the CPU with its linear layers on prepacked oneDNN weights (evalkit/backends/cpu_linear.py);
- evalkit-mkl: the same engine with packing off (EVALKIT_PACKED_LINEAR=0): the scheduling alone;
- lm-eval: `lm_eval.models.huggingface.HFLM.generate_until`, as its gsm8k task calls it;
- generate: static batches of `model.generate(stop_strings=...)` on a plain transformers model, longest
  prompts first, left-padded: a finished row waits for its batch to end. Its batch size is searched
  first (--generate-batch-sizes, one timed call each) and the fastest is used in the rounds.

evalkit, evalkit-mkl and lm-eval run at --batch-size. Runs alternate (the order rotates each round); the
table shows medians of wall time and of generated tokens/s (tokens of the kept text, cut at the stop
string, so every engine is counted the same way), the per-round ratios' median, and how many texts equal
evalkit's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import benchlib as bl

GSM8K_STOPS = ["Question:", "</s>", "<|im_end|>"]  # tasks/gsm8k.toml, as lm-eval's gsm8k.yaml


def gsm8k_workload(args) -> tuple[list[str], list[str], int, str]:
    from bench_gsm8k import export_prompts

    prompts = [row["prompt"] for row in export_prompts(args.questions, bl.WORK / "generate" / "prompts.jsonl")]
    return prompts, GSM8K_STOPS, args.tokens, (
        f"GSM8K test, first {len(prompts)} problems, evalkit's 5-shot prompts, {args.tokens} new tokens at most, "
        f"stop {GSM8K_STOPS}")


def answers_workload(backend) -> tuple[list[str], list[str], int, str]:
    from evalkit.answers.generate import answer_request
    from evalkit.answers.promptsets import load_prompt_set

    prompt_set = load_prompt_set("default", bl.REPO)
    prompts = [backend.render_prompt(answer_request(prompt_set, p, seed=0)) for p in prompt_set.prompts]
    return prompts, [], prompt_set.max_new_tokens, (
        f"the default prompt set's {len(prompts)} instructions in the chat template, "
        f"{prompt_set.max_new_tokens} new tokens at most (the set's own setting), stop at end-of-sequence")


def evalkit_engine(model: Path, batch_size: int, packed: bool = True):
    from dataclasses import replace

    from evalkit.backends.cpu_linear import ENV
    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec
    from evalkit.types import GenerationRequest

    os.environ[ENV] = "1" if packed else "0"
    try:
        backend = HFBackend(replace(ModelSpec(name="bench", source=str(model)), batch_size=batch_size), model)
    finally:
        os.environ.pop(ENV)

    def run(prompts: list[str], stops: list[str], tokens: int) -> list[str]:
        out = dict(backend.generate([GenerationRequest(p, max_new_tokens=tokens, stop=tuple(stops)) for p in prompts]))
        return [out[i].text for i in range(len(prompts))]

    return backend, run


def lmeval_engine(model: Path, batch_size: int):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(model), device="cpu", dtype="float32", batch_size=batch_size)

    def run(prompts: list[str], stops: list[str], tokens: int) -> list[str]:
        settings = {"until": list(stops), "max_gen_toks": tokens, "do_sample": False, "temperature": 0.0}
        requests = [Instance(request_type="generate_until", doc={}, arguments=(p, dict(settings)), idx=0)
                    for p in prompts]
        return lm.generate_until(requests, disable_tqdm=True)

    return run


def generate_engine(backend, batch_size: int):
    """Static batches of `model.generate`; `backend` must be a plain one (packing off)."""
    import torch

    from evalkit.backends.tokens import cut_at_stops

    tokenizer, model = backend.tokenizer, backend.model

    def run(prompts: list[str], stops: list[str], tokens: int) -> list[str]:
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
                                     stop_strings=list(stops) or None, tokenizer=tokenizer,
                                     pad_token_id=backend.pad_token)
            for row, i in enumerate(chunk):
                texts[i] = cut_at_stops(tokenizer.decode(out[row, width:], skip_special_tokens=True), stops)
        return texts

    return run


def timed(engine, prompts, stops, tokens) -> tuple[float, list[str]]:
    start = time.perf_counter()
    texts = engine(prompts, stops, tokens)
    return time.perf_counter() - start, texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--workload", choices=["gsm8k", "answers"], default="gsm8k", help="(default: %(default)s)")
    parser.add_argument("--questions", type=int, default=20, help="gsm8k: first N test problems (default: %(default)s)")
    parser.add_argument("--tokens", type=int, default=256, help="gsm8k: most new tokens per answer (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="evalkit's and lm-eval's (default: %(default)s)")
    parser.add_argument("--generate-batch-sizes", default="4,8,16,32",
                        help="static batch sizes tried for model.generate; the fastest runs the rounds (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="alternated rounds (default: %(default)s)")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    bl.data_dir()
    model = bl.model_folder()
    backend, evalkit = evalkit_engine(model, args.batch_size)
    plain, evalkit_mkl = evalkit_engine(model, args.batch_size, packed=False)
    prompts, stops, tokens, setup = gsm8k_workload(args) if args.workload == "gsm8k" else answers_workload(backend)
    lmeval = lmeval_engine(model, args.batch_size)
    for engine in (evalkit, evalkit_mkl, lmeval, generate_engine(plain, 1)):  # one-off kernel set-up
        engine(prompts[:2], stops, 4)
    searched = {}
    for size in [int(s) for s in args.generate_batch_sizes.split(",")]:
        searched[size], _ = timed(generate_engine(plain, size), prompts, stops, tokens)
        print(f"generate at batch {size}: {searched[size]:.1f} s", flush=True)
    best = min(searched, key=searched.get)
    engines = {"evalkit": evalkit, "evalkit-mkl": evalkit_mkl, "lm-eval": lmeval,
               "generate": generate_engine(plain, best)}
    walls: dict[str, list[float]] = {name: [] for name in engines}
    texts: dict[str, list[str]] = {}
    names = list(engines)
    for round_ in range(args.repeats):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            wall, texts[name] = timed(engines[name], prompts, stops, tokens)
            walls[name].append(wall)
            print(f"round {round_ + 1}: {name} {wall:.1f} s", flush=True)
    report(args, backend, prompts, walls, texts, setup, searched, best)
    return 0


def report(args, backend, prompts, walls, texts, setup, searched, best) -> None:
    others = [n for n in walls if n != "evalkit"]
    generated = {name: sum(len(backend.encode(t)) for t in ts) for name, ts in texts.items()}
    prompt_tokens = sum(len(backend.encode(p)) for p in prompts)
    rate = {name: generated[name] / bl.median(w) for name, w in walls.items()}
    ratio = {name: bl.median([walls[name][r] / walls["evalkit"][r] for r in range(args.repeats)]) for name in walls}
    labels = {"evalkit": "evalkit", "evalkit-mkl": "evalkit, MKL linears", "lm-eval": "lm-eval hf",
              "generate": f"model.generate, batch {best}"}
    row = lambda what, cells: f"| {what} | " + " | ".join(cells) + " |"
    table = [row("", [labels[n] for n in walls]), "|---|" + "---:|" * len(walls),
             row("median wall time, s", [f"{bl.median(walls[n]):.1f}" for n in walls]),
             row("generated tokens (kept text)", [str(generated[n]) for n in walls]),
             row("generated tokens/s", [f"{rate[n]:.1f}" for n in walls]),
             row("evalkit speed-up (median of per-round wall ratios)", [f"{ratio[n]:.2f}x" for n in walls]),
             row("texts identical to evalkit's", [""] + [f"{sum(a == b for a, b in zip(texts['evalkit'], texts[n]))} "
                                                        f"of {len(prompts)}" for n in others])]
    notes = ["runs: " + "; ".join(f"{n} " + ", ".join(f"{w:.0f}" for w in ws) + " s" for n, ws in walls.items()),
             "model.generate batch-size search (one call each): "
             + ", ".join(f"{size}: {wall:.1f} s" for size, wall in searched.items()) + f"; fastest {best}",
             f"{len(prompts)} prompts, {prompt_tokens} prompt tokens (read by every engine)"]
    print("\n".join(table + [""] + notes))
    if not args.no_append:
        setup = (f"{setup}; greedy, SmolLM2-135M-Instruct float32, batch size {args.batch_size} for evalkit and "
                 f"lm-eval, one process, {args.repeats} alternated rounds after one warm-up call each; wall time of "
                 "the generation call only")
        bl.append_results(f"Generation ({args.workload}): evalkit continuous batching vs lm-eval hf vs model.generate",
                          setup, table, notes, Path(sys.prefix))  # lm-eval runs in this process, so this venv's versions


if __name__ == "__main__":
    raise SystemExit(main())
