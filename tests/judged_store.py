"""A store holding a judge's verdicts on stored answers, for style control: the judge rewards markdown
lists, whatever the model, and no model is better than another."""

from __future__ import annotations

import random

from evalkit.judge.verdicts import put_judge_info, put_judgments
from evalkit.store.db import Store

MODELS = ("base", "sft", "dpo")
LIST_HABIT = {"base": 0.1, "sft": 0.8, "dpo": 0.3}  # how often each model answers with a bulleted list
N_PROMPTS = 60


def answer(rng: random.Random, model: str) -> str:
    words = " ".join(["fact"] * rng.randint(20, 40))
    if rng.random() < LIST_HABIT[model]:
        return words + "\n" + "\n".join(f"- point {k}" for k in range(rng.randint(2, 5)))
    return words


def judge_row(prompt, model_a, model_b, position, verdict, len_a, len_b):
    first_wins = (verdict == "a") == (position == "ab")
    return {"judge": "j", "prompt_set": "chat", "prompt_id": prompt, "model_a": model_a, "model_b": model_b,
            "position": position, "key": f"{prompt}{model_a}{model_b}{position}", "template": "t",
            "judge_fingerprint": "jf", "fingerprint_a": "fp-" + model_a, "fingerprint_b": "fp-" + model_b,
            "len_a": len_a, "len_b": len_b, "raw": "r", "shown": "A" if first_wins else "B", "verdict": verdict,
            "error": None, "created": 0.0}


def list_loving_store(root) -> Store:
    """A judge that, in both orders, picks the answer with more list items (a coin flip when equal):
    no model is better than another, but sft lists most."""
    rng = random.Random(4)
    store = Store(root / "store.db")
    answers, rows = {}, []
    for i in range(N_PROMPTS):
        for model in MODELS:
            answers[(f"p{i}", model)] = answer(rng, model)
        for model_a, model_b in (("base", "sft"), ("base", "dpo"), ("sft", "dpo")):
            text_a, text_b = answers[(f"p{i}", model_a)], answers[(f"p{i}", model_b)]
            lists_a, lists_b = text_a.count("\n- "), text_b.count("\n- ")
            verdict = "a" if lists_a > lists_b else "b" if lists_b > lists_a else rng.choice("ab")
            rows += [judge_row(f"p{i}", model_a, model_b, position, verdict, len(text_a), len(text_b))
                     for position in ("ab", "ba")]
    with store.transaction() as db:
        db.executemany("INSERT INTO answers VALUES (?,?,?,?,?,?,?)",
                       [(m, "fp-" + m, "chat", p, "Q", text, 0.0) for (p, m), text in answers.items()])
    put_judgments(store, rows)
    put_judge_info(store, "j", "chat", {"judge": "j", "method": "generate", "prompt": "t", "prompt_version": 1,
                                        "model": "m", "source": "s", "fingerprint": "jf", "models": list(MODELS)})
    return store
