"""`evalkit serve` (its own process, as a user starts it) on the real SmolLM2-135M: throughput at 1, 8 and 32 concurrent clients, and
lm-eval's `local-completions` through it against lm-eval's own hf backend on the same items.

    EVALKIT_DATA_DIR=../shared/data python bench/bench_serve.py [--clients 1,8,32] [--tokens 32] [--rounds 3]
                                                                [--mmlu 40] [--gsm8k 5] [--gsm8k-tokens 256] [--chat 3]

Throughput: each client sends one greedy chat request (a different GSM8K
question each) with max_tokens=--tokens; tokens/s is completion tokens over the
wall time from the first request to the last reply; --rounds rounds, each over
every client count (an empty --clients measures none). Parity: the first --mmlu
MMLU test questions (abstract_algebra, then anatomy) in lm-eval's default
`mmlu` prompt, and the first --gsm8k GSM8K test problems in lm-eval's 0-shot
`Question: …\nAnswer:` form with its stop strings, sent as lm-eval Instances to
both LocalCompletionsAPI (through serve) and HFLM; --chat GSM8K problems as chat
histories (gsm8k_chats) through LocalChatCompletion against HFLM's own
apply_chat_template. Exit status 1 when a
log-likelihood differs by more than 1e-3 or a greedy answer differs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import benchlib as bl
import openai

from evalkit.config import TaskOptions
from evalkit.tasks.loading import load_task

MMLU_SUBJECTS = ("abstract_algebra", "anatomy")
GSM8K_UNTIL = ["Question:", "</s>", "<|im_end|>"]


@dataclass(frozen=True)
class Served:
    url: str
    max_length: int


@contextlib.contextmanager
def evalkit_serve(model, batch_size: int, workers: str = "1", backend: str = "hf", python: str = sys.executable):
    """`evalkit serve` in its own process, as a user starts it (the model on the main thread); `backend`:
    its --backend (evalkit's own engine unless told), `python`: the environment it runs in (vLLM's)."""
    folder = bl.WORK / f"serve-{backend}-{workers}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evalkit.toml").write_text(f'[project]\nstore = "store.db"\n[models.base]\nsource = "{model}"\n'
                                         f'batch_size = {batch_size}\n')
    log = folder / "serve.log"  # its output, vLLM's start-up messages among it, read for the serving line
    with log.open("w") as out:
        process = subprocess.Popen([python, "-m", "evalkit", "--config", str(folder / "evalkit.toml"), "serve",
                                    "--model", "base", "--port", "0", "--workers", workers, "--backend", backend],
                                   stdout=out, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "PYTHONPATH": str(bl.REPO)})
    try:
        url = serving_url(process, log)
        api = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        deadline = time.monotonic() + 120
        while True:
            try:
                listed = api.models.list().data[0]
                break
            except openai.APIConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield Served(url, int(listed.model_extra["max_model_len"]))
    finally:
        process.terminate()
        process.wait(timeout=60)


def serving_url(process: subprocess.Popen, log, limit_s: float = 600) -> str:
    """The URL from `evalkit serve`'s "serving NAME (...) at URL" line, once the model is loaded."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        line = next((line for line in log.read_text().splitlines() if line.startswith("serving ")), None)
        if line:
            return line.split(" at ")[1].split()[0]
        if process.poll() is not None:
            raise SystemExit(f"evalkit serve stopped before serving; its output is in {log}")
        time.sleep(0.5)
    raise SystemExit(f"evalkit serve did not start within {limit_s:.0f} s; its output is in {log}")


def throughput(server: Served, clients: int, tokens: int, prompts: list[str]) -> tuple[float, int]:
    api = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=3600)
    counts = [0] * clients

    def ask(i: int) -> None:
        reply = api.chat.completions.create(model="base", messages=[{"role": "user", "content": prompts[i % len(prompts)]}],
                                            max_tokens=tokens, temperature=0)
        counts[i] = reply.usage.completion_tokens

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started), sum(counts)


def throughput_table(rates: dict[int, list[float]], tokens: int) -> list[str]:
    """Per-round tokens/s, their median, and the median of the per-round ratios to the fewest clients."""
    fewest = min(rates)
    rows = [f"| clients ({tokens}-token replies) | tokens/s per round | median | vs {fewest} client(s) |",
            "|---:|---|---:|---:|"]
    for clients, values in rates.items():
        ratios = [v / base for v, base in zip(values, rates[fewest])]
        rows.append(f"| {clients} | {' / '.join(f'{v:.1f}' for v in values)} | {bl.median(values):.1f} | "
                    f"{bl.median(ratios):.1f}x ({', '.join(f'{r:.1f}' for r in ratios)}) |")
    return rows


def mmlu_pairs(n: int) -> list[tuple[str, str]]:
    task, pairs, left = load_task("mmlu"), [], n
    for subject in MMLU_SUBJECTS:
        for sample in task.load_samples(TaskOptions(subjects=(subject,), limit=left)):
            row = sample.row
            options = "".join(f"\n{letter}. {choice}" for letter, choice in zip("ABCD", row["choices"]))
            prompt = (f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}."
                      f"\n\n{row['question'].strip()}{options}\nAnswer:")
            pairs += [(prompt, f" {letter}") for letter in "ABCD"]
            left -= 1
    return pairs


def gsm8k_prompts(n: int) -> list[str]:
    return [f"Question: {s.row['question']}\nAnswer:" for s in load_task("gsm8k").load_samples(TaskOptions(limit=n))]


def gsm8k_chats(n: int) -> list[list[dict]]:
    """The three shapes of history lm-eval's --apply_chat_template builds, in turn: one user turn, a system
    prompt, and the previous problem with its reference answer as an earlier turn (--fewshot_as_multiturn)."""
    rows = [s.row for s in load_task("gsm8k").load_samples(TaskOptions(limit=n + 1))]
    turn = lambda row: {"role": "user", "content": f"Question: {row['question']}\nAnswer:"}
    chats = []
    for i, row in enumerate(rows[1 : n + 1], start=1):
        shape = i % 3
        system = [{"role": "system", "content": "Answer briefly."}] if shape == 1 else []
        shot = [turn(rows[i - 1]), {"role": "assistant", "content": rows[i - 1]["answer"]}] if shape == 2 else []
        chats.append(system + shot + [turn(row)])
    return chats


def parity(server: Served, model, args) -> tuple[list[str], bool]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    max_length = server.max_length
    served = LocalCompletionsAPI(base_url=f"{server.url}/completions", model="base", tokenizer=str(model),
                                 tokenizer_backend="huggingface", max_length=max_length,
                                 max_gen_toks=args.gsm8k_tokens, batch_size=1, num_concurrent=1)
    reference = HFLM(pretrained=str(model), device="cpu", dtype="float32", batch_size=1, max_length=max_length)
    pairs = mmlu_pairs(args.mmlu)
    lls = [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]
    started = time.perf_counter()
    got = served.loglikelihood(lls)
    served_s = time.perf_counter() - started
    want = reference.loglikelihood(lls)
    worst = max(abs(a[0] - b[0]) for a, b in zip(got, want))
    picked = lambda res: [max(range(4), key=lambda k: res[q * 4 + k][0]) for q in range(len(res) // 4)]
    same = sum(a == b for a, b in zip(picked(got), picked(want)))
    zeros = sum(v == 0.0 for v, _ in got)
    until = {"until": GSM8K_UNTIL, "do_sample": False, "temperature": 0.0, "max_gen_toks": args.gsm8k_tokens}
    gens = lambda: [Instance("generate_until", {}, (p, dict(until)), i)
                    for i, p in enumerate(gsm8k_prompts(args.gsm8k))]
    texts, ref_texts = served.generate_until(gens()), reference.generate_until(gens())
    identical = sum(a == b for a, b in zip(texts, ref_texts))
    chat_client = LocalChatCompletion(base_url=f"{server.url}/chat/completions", model="base",
                                      max_gen_toks=args.gsm8k_tokens, num_concurrent=1)
    chats = gsm8k_chats(args.chat)
    chat_got = chat_client.generate_until([Instance("generate_until", {}, (chat_client.apply_chat_template(c), dict(until)), i)
                                           for i, c in enumerate(chats)])
    chat_want = reference.generate_until([Instance("generate_until", {}, (reference.apply_chat_template(c), dict(until)), i)
                                          for i, c in enumerate(chats)])
    chat_identical = sum(a == b for a, b in zip(chat_got, chat_want))
    lines = [f"| MMLU, {len(pairs) // 4} questions × 4 choices | same answer {same} of {len(pairs) // 4} | "
             f"largest log-likelihood difference {worst:.1e} nats | choices scored 0.0: {zeros} | "
             f"{served_s:.0f} s through serve |",
             f"| GSM8K, {len(texts)} problems, greedy {args.gsm8k_tokens} tokens | identical text {identical} of "
             f"{len(texts)} | | | |",
             f"| GSM8K as chat (local-chat-completions), {len(chats)} histories, greedy {args.gsm8k_tokens} tokens | "
             f"identical text {chat_identical} of {len(chats)} | | | |"]
    ok = worst <= 1e-3 and same == len(pairs) // 4 and identical == len(texts) and chat_identical == len(chats)
    return lines, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds, each over every client count")
    parser.add_argument("--mmlu", type=int, default=40)
    parser.add_argument("--gsm8k", type=int, default=5)
    parser.add_argument("--gsm8k-tokens", type=int, default=256)
    parser.add_argument("--chat", type=int, default=3, help="GSM8K problems sent as chat histories through "
                        "local-chat-completions")
    args = parser.parse_args()
    model = bl.model_folder()
    prompts = [s.row["question"] for s in load_task("gsm8k").load_samples(TaskOptions(limit=32))]
    ok = True
    with evalkit_serve(model, batch_size=32) as server:
        counts = [int(c) for c in args.clients.split(",") if c]
        rates: dict[int, list[float]] = {c: [] for c in counts}
        for round_ in range(args.rounds if counts else 0):
            for clients in counts:
                rate, total = throughput(server, clients, args.tokens, prompts)
                rates[clients].append(rate)
                print(f"round {round_ + 1}: {clients} clients, {total} tokens, {rate:.1f} tokens/s",
                      flush=True)  # a stopped run keeps these
        if counts:
            print("\n".join(throughput_table(rates, args.tokens)))
        if args.mmlu or args.gsm8k or args.chat:
            lines, ok = parity(server, model, args)
            print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
