"""Where a forward's time goes: torch's profiler over evalkit's own CPU paths, grouped by kind of operator.

    python bench/profile_forward.py [--threads 1,2]

Two workloads on the embedded SmolLM2-135M-Instruct, float32, linear layers prepacked as evalkit runs them
(evalkit/backends/cpu_linear.py): evalkit's generation loop (8 requests of about 470 prompt tokens, 96 new
tokens each, continuous batching with its slot cache) and one scoring forward of the decoder ([16, 125]
tokens, the size of an MMLU 0-shot batch, no mask). For each, the operators' own time is split into the
linear products, attention, and everything else, beside the wall time: what is left of the wall time
outside any operator is Python and dispatch. This says what a faster engine would have to change; it
times nothing against another tool (the bench_* scripts do).
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from dataclasses import replace

import benchlib as bl


def kind_of(operator: str) -> str:
    if "linear" in operator or operator in ("aten::mm", "aten::addmm"):
        return "linear products"
    return "attention" if "attention" in operator else "other operators"


def profiled(function) -> tuple[float, dict[str, float]]:
    """Wall seconds of one call of `function` under the profiler, and the operators' own seconds by kind."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        function()
        wall = time.perf_counter() - start
    kinds: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        kinds[kind_of(event.key)] += event.self_cpu_time_total / 1e6
    return wall, kinds


def generation(backend):
    from evalkit.types import GenerationRequest

    text = " ".join(f"word{i}" for i in range(150))
    requests = [GenerationRequest(prompt=f"Problem {k}: {text}\nAnswer:", max_new_tokens=96) for k in range(8)]
    list(backend.generate(requests[:2]))  # warm-up: first-call costs stay out of the figures
    return lambda: list(backend.generate([replace(r, prompt=r.prompt + " ") for r in requests]))


def scoring(backend):
    import torch

    ids = torch.randint(100, 40000, (16, 125), generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.inference_mode():
            backend.decoder(input_ids=ids, use_cache=False)

    forward()
    return forward


def report(name: str, threads: int, wall: float, kinds: dict[str, float]) -> None:
    inside = sum(kinds.values())
    shares = ", ".join(f"{kind} {seconds / wall:.0%}" for kind, seconds in sorted(kinds.items(), key=lambda kv: -kv[1]))
    print(f"{name:34s} {threads} thread(s): {wall:6.2f} s wall; {shares}; outside operators "
          f"{max(0.0, wall - inside) / wall:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    args = parser.parse_args()
    print(bl.machine())
    for threads in [int(t) for t in args.threads.split(",")]:
        os.environ["EVALKIT_THREADS"] = str(threads)  # fixed: the follower must not change it mid-profile
        from evalkit.backends.hf import HFBackend
        from evalkit.config import ModelSpec

        folder = bl.model_folder()
        backend = HFBackend(replace(ModelSpec(name="base", source=str(folder)), batch_size=8), folder)
        for name, build in (("generation, 8 x 96 tokens", generation), ("scoring forward, [16, 125]", scoring)):
            report(name, threads, *profiled(build(backend)))


if __name__ == "__main__":
    main()
