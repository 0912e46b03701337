"""The leaderboard's human-votes section: tables, agreement, and two linked PNGs."""

from __future__ import annotations

import re

from evalkit.report import leaderboard as report
from evalkit.report.votes import RATINGS_PNG, WIN_RATE_PNG, human_votes_section
from evalkit.store.db import Store
from evalkit.vote.votes import Matchup, cast

RUN = {"id": 1, "provenance": {"seed": 3}, "config": {"models": []}}


def vote(store, annotator, prompt_id, left, right, winner):
    cast(store, annotator, Matchup("chat", prompt_id, "q", left, right, "x", "y"), winner)


def cast_some(store):
    plan = [("sft", "base", "left"), ("base", "sft", "right"), ("dpo", "base", "left"), ("base", "dpo", "tie"),
            ("dpo", "sft", "left"), ("sft", "dpo", "left"), ("base", "sft", "left"), ("dpo", "base", "both_bad")]
    for k, (left, right, winner) in enumerate(plan):
        vote(store, "alice", f"p{k}", left, right, winner)
        vote(store, "bob", f"p{k}", right, left, {"left": "right", "right": "left"}.get(winner, winner))


def test_no_votes_no_section(tmp_path):
    assert human_votes_section(Store(tmp_path / "s.db"), RUN, tmp_path / "reports") == []
    assert not (tmp_path / "reports").exists()


def test_section_has_ratings_win_rates_agreement_and_linked_plots(tmp_path):
    store = Store(tmp_path / "s.db")
    cast_some(store)
    reports = tmp_path / "reports"
    lines = human_votes_section(store, RUN, reports)
    text = "\n".join(lines)
    assert lines[0] == "## Human votes"
    assert "16 votes by 2 annotators (alice, bob) on 8 prompts" in text
    for png in (RATINGS_PNG, WIN_RATE_PNG):
        assert f"]({png})" in text
        assert (reports / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rating_rows = [line for line in lines if re.match(r"\| \d+ \| (base|sft|dpo) \|", line)]
    assert len(rating_rows) == 3
    # bob voted every pair exactly as alice did (sides swapped): full agreement.
    assert "| annotator vs annotator | 100% | 1.00 | 8 | 8 |" in text
    assert "evalkit.judge.verdicts" in text or "LLM-judge" in text  # says why there is no judge agreement


def test_the_leaderboard_renders_the_section(tmp_path):
    store = Store(tmp_path / "s.db")
    run_id = store.start_run({"models": ["base"], "suite": "default"}, {"seed": 1, "tasks": {}})
    store.finish_run(run_id, {"seed": 1, "tasks": {}})
    cast_some(store)
    path = report.write(store, tmp_path / "reports", run_id)
    text = path.read_text()
    assert "## Human votes" in text and f"]({RATINGS_PNG})" in text
    assert (path.parent / RATINGS_PNG).exists() and (path.parent / WIN_RATE_PNG).exists()


def test_style_control_needs_the_answers_the_votes_were_cast_on(tmp_path):
    store = Store(tmp_path / "s.db")
    cast_some(store)  # on texts "x" and "y", never stored
    text = "\n".join(human_votes_section(store, RUN, tmp_path / "reports"))
    assert "### Style-controlled ratings" in text
    assert "Not shown: style control reads both answers of every vote, but 16 of 16 votes have an answer missing" in text


def test_style_controlled_ratings_sit_beside_the_plain_ones(tmp_path):
    store = Store(tmp_path / "s.db")
    texts = {"base": "Short answer {k}.", "sft": "# Heading\n- a long answer {k}\n- with **bold** points\n- and more",
             "dpo": "A middling answer number {k}, with **one** bold word."}
    rows = [(m, "fp-" + m, "chat", f"p{k}", "q", t.format(k=k), 0.0) for m, t in texts.items() for k in range(12)]
    with store.transaction() as db:
        db.executemany("INSERT INTO answers VALUES (?,?,?,?,?,?,?)", rows)
    for k in range(12):
        for left, right in (("sft", "base"), ("dpo", "sft"), ("base", "dpo")):
            winner = "left" if (k + len(left)) % 3 else "right"
            cast(store, "alice", Matchup("chat", f"p{k}", "q", left, right, texts[left].format(k=k),
                                         texts[right].format(k=k)), winner)
    lines = human_votes_section(store, RUN, tmp_path / "reports")
    text = "\n".join(lines)
    assert "Not shown" not in text
    start = lines.index("### Style-controlled ratings")
    table = [line for line in lines[start:] if re.match(r"\| [\d–]+ \| (base|sft|dpo) \|", line)]
    assert len(table) == 3
    assert "| length (characters) |" in text and "| bold spans |" in text and "Chatbot Arena" in text
