"""The GPU check: evalkit's CUDA paths on one GPU, in minutes, with nothing downloaded.

    python bench/gpu/check.py --out DIR [--device cuda] [--tokens 128] [--prompts 64]

No model or data travels to the GPU machine (it reaches no hub, and what is carried must fit in a
few MiB), so the model is built on the spot: SmolLM2-135M's shape (30 layers, 576 wide, 9 heads of
64, 3 key-value heads, float32) with random weights and the tests' quickly trained tokenizer. Speed
does not depend on the weights' values, and every comparison is between engines on the same weights.

1. hf backend on CUDA: greedy generation (continuous batching) of --prompts prompts, tokens/s, and the
   same texts as on the CPU for the first few; MMLU-shaped log-likelihoods, CUDA against the CPU.
2. 4-bit QLoRA SFT (bitsandbytes NF4 on CUDA) for a few steps through evalkit's trainer: the loss goes
   down and the merged model loads as a plain folder.
3. vllm backend on CUDA, when vLLM is installed there: the same log-likelihoods and greedy texts as the
   hf backend, and its tokens/s beside evalkit's.
Every step writes what it measured, or why it could not run, to DIR/gpu.json and DIR/gpu.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "train")]

SMOLLM2_SHAPE = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
                 "num_key_value_heads": 3, "max_position_embeddings": 2048}
QUESTION = "Question: Natalia sold clips to {} of her friends in April. How many clips did she sell?\nAnswer:"


def build_model(folder: Path) -> Path:
    import torch
    from tiny_model import build_tiny_model
    from transformers import AutoConfig, LlamaForCausalLM

    build_tiny_model(folder)
    config = AutoConfig.from_pretrained(folder)
    for key, value in SMOLLM2_SHAPE.items():
        setattr(config, key, value)
    config.head_dim = config.hidden_size // config.num_attention_heads
    torch.manual_seed(0)  # scaffolding, as in the tests
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def backend(folder: Path, device: str, kind: str = "hf", batch_size: int = 32):
    from evalkit.config import ModelSpec

    spec = ModelSpec(name="gpu-check", source=str(folder), device=device, batch_size=batch_size, backend=kind)
    if kind == "vllm":
        from evalkit.backends.vllm import VLLMBackend

        return VLLMBackend(spec, folder)
    from evalkit.backends.hf import HFBackend

    return HFBackend(spec, folder)


def generation_step(folder: Path, args) -> dict:
    from evalkit.types import GenerationRequest, LoglikelihoodRequest

    cuda = backend(folder, args.device)
    requests = [GenerationRequest(QUESTION.format(40 + i), max_new_tokens=args.tokens) for i in range(args.prompts)]
    list(cuda.generate(requests[:2]))  # warm-up
    started = time.perf_counter()
    texts = dict(cuda.generate(requests))
    seconds = time.perf_counter() - started
    tokens = sum(g.n_tokens for g in texts.values())
    cpu = backend(folder, "cpu")
    few = requests[:4]
    on_cpu = dict(cpu.generate(few))
    choices = [LoglikelihoodRequest(QUESTION.format(7), f" {n}") for n in (7, 14, 21, 28)]
    lls = [dict(b.loglikelihood(choices)) for b in (cuda, cpu)]
    return {"prompts": len(requests), "generated_tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1),
            "same_greedy_text_as_cpu": sum(texts[i].text == on_cpu[i].text for i in range(len(few))),
            "compared_with_cpu": len(few),
            "largest_loglikelihood_difference_vs_cpu": max(abs(lls[0][i].logprob - lls[1][i].logprob)
                                                           for i in range(len(choices)))}


def qlora_step(folder: Path, work: Path) -> dict:
    from train_helpers import SFT_ROWS, tiny_recipe, write_jsonl

    from evalkit.train.pipeline import make_plan, run_stage

    write_jsonl(work / "sft.jsonl", SFT_ROWS)
    recipe = tiny_recipe(work, "sft", model={"method": "qlora", "compute_dtype": "bfloat16"},
                         train={"max_steps": 8, "learning_rate": 1e-3, "max_length": 64})
    plan = make_plan(recipe, "gpu-check", folder, "random-smollm2-shape")
    started = time.perf_counter()
    info = run_stage(plan, work / "out", work / "checkpoints", quiet=True)
    losses = [h["loss"] for h in info["training"]["log_history"] if "loss" in h]
    return {"method": info["method"], "steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1],
            "seconds": round(time.perf_counter() - started, 1), "merge": info.get("merge")}


def vllm_step(folder: Path, args, hf_figures: dict) -> dict:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return {"skipped": "vLLM is not installed on this machine (its CUDA wheel and torch build are too large "
                           "to carry); install evalkit[vllm] there and rerun"}
    from evalkit.types import GenerationRequest, LoglikelihoodRequest

    hf, vllm = backend(folder, args.device), backend(folder, args.device, "vllm")
    requests = [GenerationRequest(QUESTION.format(40 + i), max_new_tokens=args.tokens) for i in range(args.prompts)]
    started = time.perf_counter()
    ours = dict(vllm.generate(requests))
    seconds = time.perf_counter() - started
    theirs = dict(hf.generate(requests[:8]))
    choices = [LoglikelihoodRequest(QUESTION.format(7), f" {n}") for n in (7, 14, 21, 28)]
    a, b = dict(vllm.loglikelihood(choices)), dict(hf.loglikelihood(choices))
    tokens = sum(g.n_tokens for g in ours.values())
    return {"tokens_per_s": round(tokens / seconds, 1), "vs_hf_tokens_per_s": hf_figures.get("tokens_per_s"),
            "same_greedy_text_as_hf": sum(ours[i].text == theirs[i].text for i in theirs), "compared": len(theirs),
            "largest_loglikelihood_difference_vs_hf": max(abs(a[i].logprob - b[i].logprob) for i in a)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=64)
    args = parser.parse_args()
    import torch

    args.out.mkdir(parents=True, exist_ok=True)
    work = args.out / "work"
    results: dict = {"torch": torch.__version__,
                     "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"}
    folder = build_model(work / "model")
    steps = {"hf_backend": lambda: generation_step(folder, args), "qlora_sft": lambda: qlora_step(folder, work),
             "vllm_backend": lambda: vllm_step(folder, args, results.get("hf_backend", {}))}
    for name, step in steps.items():
        started = time.perf_counter()
        try:
            results[name] = step()
        except Exception as err:  # every step reports, whatever the one before it did
            results[name] = {"failed": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-2000:]}
        print(f"{name} ({time.perf_counter() - started:.0f} s): {json.dumps(results[name])[:600]}", flush=True)
    (args.out / "gpu.json").write_text(json.dumps(results, indent=1, default=str))
    lines = [f"# GPU check: {results['device']}, torch {results['torch']}", ""]
    lines += [f"- **{k}**: `{json.dumps(v, default=str)[:800]}`" for k, v in results.items() if isinstance(v, dict)]
    (args.out / "gpu.md").write_text("\n".join(lines) + "\n")
    return 0 if not any("failed" in v for v in results.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
