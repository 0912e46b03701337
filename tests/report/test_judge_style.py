"""Style control on stored judge verdicts: a judge that rewards markdown lists, whatever the model,
over answers read from the store; its leaderboard table; and verdicts whose answers are gone."""

from __future__ import annotations

import pytest
from judged_store import list_loving_store

from evalkit.answers import MissingAnswersError
from evalkit.judge.stats import style_ratings
from evalkit.judge.verdicts import judged_pairs
from evalkit.report.judge import judge_section

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
