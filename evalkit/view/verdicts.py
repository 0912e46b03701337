"""The judge's pages: every judged pair with its verdict in each order, and one pair opened: both
answers with their differences marked, the judge's two replies, and the human votes on that prompt.
(Two models' answers to a whole prompt set, with verdicts and votes per prompt: answers.py.)"""

from __future__ import annotations

from typing import Any

from evalkit.answers import stored_answers
from evalkit.judge.verdicts import judged_pairs, judgment_rows
from evalkit.view import queries
from evalkit.view.answers import answer_pairs
from evalkit.view.items import page_number
from evalkit.view.site import NotFound, Site
from evalkit.view.spans import marked
from evalkit.vote import votes as vote_store
from evalkit.vote.keys import VOTE_LABELS

VERDICT_TEXT = {"a": "A", "b": "B", "tie": "tie", None: "unscored"}


def judge_page(site: Site, query: dict[str, str]) -> str:
    pairs = sorted(judged_pairs(site.store), key=lambda p: (p.judge, p.prompt_set, p.prompt_id, p.model_a, p.model_b))
    pages = queries.page_count(len(pairs), queries.PAGE_SIZE * 4)
    number = page_number(query.get("page"), pages)
    size = queries.PAGE_SIZE * 4
    shown = pairs[(number - 1) * size: number * size]
    return site.render("judge.html", title="Judge verdicts", pairs=shown, total=len(pairs), page=number,
                       pages=pages, names=VERDICT_TEXT, answered=answer_pairs(site))


def verdict_page(site: Site, query: dict[str, str]) -> str:
    judge, prompt_set, prompt_id = query.get("judge", ""), query.get("set", ""), query.get("prompt", "")
    model_a, model_b = query.get("a", ""), query.get("b", "")
    rows = [r for r in judgment_rows(site.store, prompt_set, judge, current_only=False)
            if r["prompt_id"] == prompt_id and r["model_a"] == model_a and r["model_b"] == model_b]
    if not rows:
        raise NotFound(f"no verdict of judge {judge!r} on prompt {prompt_id!r} of set {prompt_set!r} for "
                       f"{model_a} vs {model_b}; the judge page lists the judged pairs")
    answers = {a.model: a for a in stored_answers(site.store, prompt_set, [model_a, model_b])
               if a.prompt_id == prompt_id}
    text_a, text_b = marked(_answer(answers, model_a), _answer(answers, model_b))
    votes = [v for v in vote_store.votes(site.store, prompt_set=prompt_set)
             if v.prompt_id == prompt_id and {v.model_left, v.model_right} == {model_a, model_b}]
    prompt = next(iter(answers.values())).prompt if answers else "(the prompt's answers are no longer stored)"
    return site.render("verdict.html", title=f"{judge} · {prompt_set} / {prompt_id}", judge=judge,
                       prompt_set=prompt_set, prompt_id=prompt_id, model_a=model_a, model_b=model_b, prompt=prompt,
                       text_a=text_a, text_b=text_b, orders=sorted(rows, key=lambda r: r["position"]),
                       votes=[_vote(v) for v in votes], names=VERDICT_TEXT)


def _answer(answers: dict[str, Any], model: str) -> str:
    return answers[model].answer if model in answers else "(no stored answer)"


def _vote(vote: vote_store.Vote) -> dict[str, Any]:
    winner = {"left": vote.model_left, "right": vote.model_right}.get(vote.winner, VOTE_LABELS[vote.winner])
    return {"annotator": vote.annotator, "winner": winner, "left": vote.model_left, "right": vote.model_right,
            "created": vote.created}
