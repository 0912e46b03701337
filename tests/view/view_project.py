"""A throwaway project for the view's tests: one finished run of three models on a generation task,
a code task and a perplexity task, stored answers to a prompt set (voting_project's), and judge
verdicts in both orders. Records and metric rows are written through the store as a run writes
them, with metric rows computed by the kinds' own functions, so no model runs."""

from __future__ import annotations

import time
from pathlib import Path

from evalkit.kinds import metric_rows
from evalkit.store.db import Store
from voting_project import MODELS, write_project

N_GEN, N_CODE = 60, 12
SKILL = {"base": 0.3, "sft": 0.55, "dpo": 0.6}  # share of items each model gets right
OFFSET = {"base": 11, "sft": 61, "dpo": 37}  # which items: each model's own, so either side of a diff can win


def right(model: str, i: int) -> bool:
    return (i * 37 + OFFSET[model]) % 100 < SKILL[model] * 100


def gen_record(model: str, i: int) -> dict:
    correct = right(model, i)
    empty = model == "base" and i % 10 == 9
    response = "" if empty else f"{model} works it out: step one, step two. The answer is {i * 3 if correct else i}."
    scores = {"exact_match": float(correct and not empty), "exact_match_valid": True,
              "finish_reason": "length" if i % 7 == 6 else "stop", "tokens": 12}
    return {"sample_id": f"q{i:03d}", "prompt": f"Question {i}: what is 3 times {i}?", "response": response,
            "target": str(i * 3), "scores": scores, "fields": {"level": "hard" if i % 3 == 0 else "easy"}}


def code_record(model: str, i: int) -> dict:
    passed = right(model, i + 5)
    status = "passed" if passed else ("timeout" if i % 4 == 0 else "failed")
    return {"sample_id": f"c{i:02d}", "prompt": f"def f{i}(x):\n    \"\"\"Return x plus {i}.\"\"\"\n",
            "response": f"    return x + {i if passed else i + 1}\n", "target": f"assert f{i}(1) == {i + 1}",
            "scores": {"pass@1": float(passed), "n": 1, "passed": int(passed), "unscored": int(status == "timeout"),
                       "outcomes": [{"status": status, "reason": {"passed": "", "timeout": "wall time over 10 s"}.get(
                                         status, "AssertionError"),
                                     "duration_s": 0.1}], "finish_reasons": ["stop"]}}


def provenance() -> dict:
    task = {"version": 1, "content_hash": "abc", "options": {}, "data_hash": "d4t4", "data_origin": "toy.jsonl"}
    return {"evalkit": "0.1.0", "git": {"commit": "0123456789abcdef", "dirty": False}, "seed": 7, "suite": "toy",
            "environment": {"python": "3.11"}, "packages": {},
            "models": {m: {"fingerprint": f"fp-{m}", "spec": {"source": f"/models/{m}", "recipe": None,
                                                              "dtype": "float32", "quantization": "none"}}
                       for m in MODELS},
            "tasks": {"toygsm": {**task, "kind": "generate", "file": "tasks/toygsm.toml", "n_samples": N_GEN},
                      "toycode": {**task, "kind": "code", "file": "tasks/toycode.toml", "n_samples": N_CODE}}}


def add_run(store: Store) -> int:
    run_id = store.start_run({"models": list(MODELS), "suite": "toy"}, provenance())
    for model in MODELS:
        for task, records, metric in (("toygsm", [gen_record(model, i) for i in range(N_GEN)], "exact_match"),
                                      ("toycode", [code_record(model, i) for i in range(N_CODE)], "pass@1")):
            store.put_samples(run_id, model, task, records)
            row = metric_rows.mean_row(metric, [r["scores"][metric] for r in records], primary=True)
            store.put_results(run_id, model, task, [row])
    store.finish_run(run_id, provenance())
    return run_id


def add_judgments(store: Store, prompt_set: str = "chat", n_prompts: int = 4) -> None:
    """The judge's verdicts on sft vs base in both orders; it flips on the odd prompts."""
    rows = []
    for i in range(n_prompts):
        for position, verdict in (("ab", "a"), ("ba", "a" if i % 2 == 0 else "b")):
            shown = ("A" if verdict == "a" else "B") if position == "ab" else ("B" if verdict == "a" else "A")
            rows.append(("toyjudge", prompt_set, f"p{i:02d}", "base", "sft", position, f"k{i}{position}", "pairwise",
                         "fp-judge", "fp-base", "fp-sft", 10, 12, f"[[{shown}]] because reasons {i}", shown, verdict,
                         None, time.time()))
    with store.transaction() as db:
        db.executemany("INSERT INTO judgments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def build(root: Path) -> tuple[Path, int]:
    """evalkit.toml and store.db with the run, the answers and the verdicts; returns (config, run id)."""
    config = write_project(root)
    store = Store(root / "store.db")
    run_id = add_run(store)
    add_judgments(store)
    store.close()
    return config, run_id
