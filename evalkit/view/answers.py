"""Two models' answers to a prompt set side by side: the spans where they differ marked, the judge's
verdict on each prompt in both orders, and the human votes on it. The answers are read a page at a
time in SQL; verdicts and votes for that page only."""

from __future__ import annotations

from collections import Counter
from typing import Any

from evalkit.judge.verdicts import judged_pairs
from evalkit.view import queries
from evalkit.view.items import clipped, kept_pages, page_number
from evalkit.view.site import NotFound, Site
from evalkit.view.spans import marked
from evalkit.vote import votes as vote_store

_JOIN = ("answers a JOIN answers b ON b.prompt_set=a.prompt_set AND b.prompt_id=a.prompt_id "
         "WHERE a.prompt_set=? AND a.model=? AND b.model=?")


def answer_pairs(site: Site) -> list[dict[str, Any]]:
    """Every prompt set and pair of models that both answered it, with how many prompts they share."""
    rows = site.store.db.execute(
        "SELECT a.prompt_set, a.model, b.model, COUNT(*) FROM answers a JOIN answers b ON b.prompt_set=a.prompt_set "
        "AND b.prompt_id=a.prompt_id AND a.model < b.model GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    return [{"prompt_set": s, "a": a, "b": b, "n": n} for s, a, b, n in rows]


def _check(site: Site, prompt_set: str, model_a: str, model_b: str) -> None:
    known = {(p["prompt_set"], *sorted((p["a"], p["b"]))) for p in answer_pairs(site)}
    if model_a == model_b or (prompt_set, *sorted((model_a, model_b))) not in known:
        sets = sorted({p["prompt_set"] for p in answer_pairs(site)})
        raise NotFound(f"no answers of both {model_a!r} and {model_b!r} to prompt set {prompt_set!r}; prompt sets "
                       f"with answers: {', '.join(sets) or 'none yet (`evalkit answers` makes them)'}; the judge page "
                       "lists the pairs of models")


def _verdicts(site: Site, prompt_set: str, model_a: str, model_b: str) -> dict[str, list[dict[str, str]]]:
    """Per prompt id, each judge's verdicts in both orders, as A/B of this page (model_a is A)."""
    found: dict[str, list[dict[str, str]]] = {}
    for p in judged_pairs(site.store, prompt_set=prompt_set):
        if {p.model_a, p.model_b} != {model_a, model_b}:
            continue
        same = p.model_a == model_a  # the judge's model_a is this page's A; else its verdicts swap sides

        def side(verdict: str | None) -> str:
            if not same and verdict in ("a", "b"):
                verdict = "b" if verdict == "a" else "a"
            return {"a": "A", "b": "B", "tie": "tie", None: "unscored"}[verdict]
        found.setdefault(p.prompt_id, []).append({
            "judge": p.judge, "a_first": side(p.verdict_ab if same else p.verdict_ba),
            "b_first": side(p.verdict_ba if same else p.verdict_ab), "final": side(p.final),
            "link": {"judge": p.judge, "set": prompt_set, "prompt": p.prompt_id, "a": p.model_a, "b": p.model_b}})
    return found


def _votes(site: Site, prompt_set: str, model_a: str, model_b: str) -> dict[str, Counter]:
    """Per prompt id, the human votes on this pair counted as A, B, tie, both bad."""
    found: dict[str, Counter] = {}
    for v in vote_store.votes(site.store, prompt_set=prompt_set):
        if {v.model_left, v.model_right} == {model_a, model_b}:
            winner = {"left": v.model_left, "right": v.model_right}.get(v.winner, v.winner)
            found.setdefault(v.prompt_id, Counter())[{model_a: "A", model_b: "B"}.get(winner, winner)] += 1
    return found


def answers_page(site: Site, query: dict[str, str]) -> str:
    prompt_set, model_a, model_b = query.get("set", ""), query.get("a", ""), query.get("b", "")
    _check(site, prompt_set, model_a, model_b)
    search = "" if site.links.bundle else query.get("q", "").strip()
    where, args = _JOIN, [prompt_set, model_a, model_b]
    if search:
        where += " AND (a.prompt LIKE ? ESCAPE '\\' OR a.answer LIKE ? ESCAPE '\\' OR b.answer LIKE ? ESCAPE '\\')"
        args += [queries.like(search)] * 3
    total = site.store.db.execute(f"SELECT COUNT(*) FROM {where}", args).fetchone()[0]
    shown_pages, all_pages = kept_pages(site, total)
    number = page_number(query.get("page"), shown_pages)
    rows = site.store.db.execute(f"SELECT a.prompt_id, a.prompt, a.answer, b.answer FROM {where} ORDER BY a.rowid "
                                 "LIMIT ? OFFSET ?", args + [queries.PAGE_SIZE, (number - 1) * queries.PAGE_SIZE])
    verdicts, votes = _verdicts(site, prompt_set, model_a, model_b), _votes(site, prompt_set, model_a, model_b)
    prompts = []
    for prompt_id, prompt, answer_a, answer_b in rows:
        side_a = clipped(site, {"prompt": prompt, "response": answer_a, "target": ""})  # a bundle's cut
        prompt, answer_a, answer_b = side_a["prompt"], side_a["response"], clipped(
            site, {"prompt": "", "response": answer_b, "target": ""})["response"]
        text_a, text_b = marked(answer_a, answer_b)
        prompts.append({"id": prompt_id, "prompt": prompt, "text_a": text_a, "text_b": text_b,
                        "verdicts": verdicts.get(prompt_id, []), "votes": dict(votes.get(prompt_id, {}))})
    return site.render("answers.html", title=f"{prompt_set} · {model_a} vs {model_b}", prompt_set=prompt_set,
                       model_a=model_a, model_b=model_b, search=search, total=total, page=number,
                       pages=shown_pages, all_pages=all_pages, prompts=prompts)
