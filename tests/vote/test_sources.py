"""What voting reads from other features: stored answers, and the LLM judge's verdicts
(through evalkit.judge.verdicts when it is there; without it, voting works and says why)."""

from __future__ import annotations

import time

import pytest
from voting_project import write_project

from evalkit.store.db import Store
from evalkit.vote.pairs import PairPicker, candidates
from evalkit.vote.sources import battle_winner, judge_verdicts, stored_answers


def test_stored_answers_filter_by_model_and_prompt_set(tmp_path):
    write_project(tmp_path, n_prompts=2)
    store = Store(tmp_path / "store.db")
    assert len(stored_answers(store)) == 6
    assert {a.model for a in stored_answers(store, models=["sft", "dpo"])} == {"sft", "dpo"}
    assert stored_answers(store, prompt_set="other") == []


def test_an_empty_store_has_no_answers(tmp_path):
    assert stored_answers(Store(tmp_path / "s.db")) == []


@pytest.mark.parametrize("verdict, expected", [("a", "a"), ("B", "b"), ("model_a", "a"), ("sft", "b"),
                                               ("tie", "tie"), ("both_bad", "tie"), (None, None), ("??", None)])
def test_battle_winner_reads_side_or_model_names(verdict, expected):
    assert battle_winner(verdict, "base", "sft") == expected


def judgment(judge, prompt_id, model_a, model_b, position, verdict):
    return {"judge": judge, "prompt_set": "chat", "prompt_id": prompt_id, "model_a": model_a, "model_b": model_b,
            "position": position, "key": f"{prompt_id}{model_a}{model_b}{position}", "template": "t",
            "judge_fingerprint": "j", "fingerprint_a": f"fp-{model_a}", "fingerprint_b": f"fp-{model_b}",
            "len_a": 1, "len_b": 1, "raw": "r", "shown": None, "verdict": verdict, "error": None,
            "created": time.time()}


def test_judge_verdicts_from_evalkit_judge_mark_flips_and_lead_the_queue(tmp_path):
    judge = pytest.importorskip("evalkit.judge.verdicts", reason="evalkit.judge.verdicts is not available in this checkout")
    write_project(tmp_path, n_prompts=4)
    store = Store(tmp_path / "store.db")
    judge.put_judgments(store, [
        judgment("gpt", "p02", "base", "sft", "ab", "a"), judgment("gpt", "p02", "base", "sft", "ba", "b"),
        judgment("gpt", "p01", "dpo", "sft", "ab", "a"), judgment("gpt", "p01", "dpo", "sft", "ba", "a"),
        judgment("gpt", "p03", "base", "dpo", "ab", None), judgment("gpt", "p03", "base", "dpo", "ba", "a"),
    ])
    data = judge_verdicts(store)
    by_pair = {v.pair: v for v in data.verdicts}
    assert data.note == ""
    assert by_pair[("chat", "p02", "base", "sft")].flipped and by_pair[("chat", "p02", "base", "sft")].winner == "tie"
    assert not by_pair[("chat", "p01", "dpo", "sft")].flipped and by_pair[("chat", "p01", "dpo", "sft")].winner == "a"
    assert by_pair[("chat", "p03", "base", "dpo")].winner is None  # one order unscored: no final verdict
    picker = PairPicker(store, "alice", candidates(stored_answers(store)), data)
    assert picker.next().pair == ("chat", "p02", "base", "sft")


def test_no_judgments_yet_is_said_plainly(tmp_path):
    pytest.importorskip("evalkit.judge.verdicts", reason="evalkit.judge.verdicts is not available in this checkout")
    data = judge_verdicts(Store(tmp_path / "s.db"))
    assert data.verdicts == () and data.note == "no LLM-judge verdicts in the store yet"
