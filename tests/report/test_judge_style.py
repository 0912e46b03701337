"""Style control on stored judge verdicts: a judge that rewards markdown lists, whatever the model,
over answers read from the store; its leaderboard table; and verdicts whose answers are gone."""

from __future__ import annotations

import random

import pytest

from evalkit.answers import MissingAnswersError
from evalkit.judge.stats import style_ratings
from evalkit.judge.verdicts import judged_pairs, put_judge_info, put_judgments
from evalkit.report.judge import judge_section
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


def list_loving_store(tmp_path) -> Store:
    """A judge that, in both orders, picks the answer with more list items (a coin flip when equal):
    no model is better than another, but sft lists most."""
    rng = random.Random(4)
    store = Store(tmp_path / "store.db")
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


def test_a_list_loving_judge_is_seen_through(tmp_path):
    store = list_loving_store(tmp_path)
    style = style_ratings(store, judged_pairs(store, "chat", "j"), rounds=200, seed=1)
    (lists,) = [c for c in style.coefficients if c.feature == "lists"]
    assert lists.ci_low > 1.0  # lists win, strongly
    ratings = {r.model: r for r in style.ratings}
    # With the lists accounted for, no model stands out: every interval covers the mean rating.
    for r in ratings.values():
        assert r.ci_low < 1000 < r.ci_high, r

    section = "\n".join(judge_section(store, {"provenance": {"seed": 1}}, tmp_path / "reports"))
    assert "Style-controlled ratings (strict rule):" in section
    assert "| rank | model | style-controlled [95% CI] | Bradley–Terry [95% CI] | change |" in section
    assert "| list items | +" in section and "| markdown headers | – (the same in every battle)" in section
    plain_sft = next(line for line in section.splitlines() if line.startswith("| **sft** |"))
    assert int(plain_sft.split("|")[2].split()[0]) > 1100  # the plain ratings credit sft with its lists


def test_verdicts_whose_answers_are_gone_are_one_line(tmp_path):
    store = list_loving_store(tmp_path)
    pairs = judged_pairs(store, "chat", "j")
    with store.transaction() as db:
        db.execute("DELETE FROM answers WHERE model='dpo' AND prompt_id='p7'")
    with pytest.raises(MissingAnswersError) as caught:
        style_ratings(store, pairs, rounds=0)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in ("2 of 180 judged pairs", "model 'dpo'", "prompt 'p7'", str(tmp_path / "store.db"),
                     "evalkit answers --models dpo --prompt-set chat"):
        assert fragment in message
