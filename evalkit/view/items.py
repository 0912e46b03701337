"""The item pages: one model's samples of a task, and two models side by side on the same items.

Both read one page of items in SQL (queries.py) and recompute their statistic over every item the
filter keeps, with the report's own functions: the task kind's `estimate` (the interval a leaderboard
slice shows) and `comparison_rows` (the paired test of the Paired comparisons table).
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.report import leaderboard
from evalkit.report.format import fmt, p_text
from evalkit.report.frames import comparison_rows, p_resolution
from evalkit.view import queries
from evalkit.view.queries import Filter, Pairs, Samples
from evalkit.view.site import NotFound, Site
from evalkit.view.spans import marked

# shown apart (finish reasons, the sandbox's outcomes) or too long to read in a cell
HIDDEN_SCORES = {"loglikelihoods", "is_greedy", "outcomes", "finish_reasons", "finish_reason"}


def kept_pages(site: Site, total: int) -> tuple[int, int]:
    """(pages shown, pages there are): a bundle keeps the first site.max_pages."""
    pages = queries.page_count(total)
    return (pages if site.max_pages is None else min(pages, site.max_pages)), pages


def page_number(text: Any, pages: int) -> int:
    try:
        number = int(text or 1)
    except (TypeError, ValueError):
        raise NotFound(f"page {text!r} is not a page number; give 1..{pages}") from None
    if not 1 <= number <= pages:
        raise NotFound(f"page {number} does not exist; this list has {pages} page{'s' if pages != 1 else ''}")
    return number


def score_items(scores: dict[str, Any]) -> list[tuple[str, str]]:
    shown = []
    for name, value in scores.items():
        if name in HIDDEN_SCORES:
            continue
        if isinstance(value, float):
            value = fmt(value)
        elif isinstance(value, (list, dict)):
            value = json.dumps(value)[:80]
        shown.append((name, str(value)))
    return shown


def finish_reason(scores: dict[str, Any]) -> str:
    reasons = scores.get("finish_reasons") or ([scores["finish_reason"]] if scores.get("finish_reason") else [])
    return ", ".join(str(r) for r in reasons)


def sandbox_verdicts(scores: dict[str, Any]) -> list[str]:
    """What the sandbox said about each completion of a code item: its status and reason."""
    return [o["status"] + (f": {o['reason']}" if o.get("reason") else "") for o in scores.get("outcomes") or []]


def clipped(site: Site, record: dict[str, Any]) -> dict[str, Any]:
    """The record with its texts cut to site.max_chars (a bundle's), saying how much was left out: a
    prompt keeps its end (the question after a few-shot preamble), a response and target their start."""
    limit = site.max_chars
    if limit is None:
        return record
    cut = {}
    for key in ("prompt", "response", "target"):
        text, left_out = record[key], len(record[key]) - limit
        if left_out <= 0:
            cut[key] = text
        elif key == "prompt":
            cut[key] = f"({left_out:,} characters before this in `evalkit view`) …{text[-limit:]}"
        else:
            cut[key] = f"{text[:limit]}… ({left_out:,} more characters in `evalkit view`)"
    return {**record, **cut}


def shown_record(record: dict[str, Any]) -> dict[str, Any]:
    scores = record["scores"]
    return {**record, "score_items": score_items(scores), "finish": finish_reason(scores),
            "sandbox": sandbox_verdicts(scores)}


def diff_partners(site: Site, run: dict[str, Any], model: str) -> list[tuple[str, str]]:
    """The (a, b) diffs a model's samples page links to: against every other model on the server; in a
    bundle, the pairs it holds (the leaderboard's comparisons, bundle.py)."""
    models = leaderboard.model_order(run)
    if not site.links.bundle:
        return [(model, other) for other in models if other != model]
    return [pair for pair in leaderboard.comparison_pairs(models) if model in pair]


def estimate_text(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not a per-item metric (recomputed only over all items, on the leaderboard)"
    interval = f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]" if row.get("ci_low") is not None else ""
    return f"{fmt(row['value'])}{interval} (n={row['n']})"


def samples_page(site: Site, query: dict[str, str]) -> str:
    run = site.run(query.get("run"))
    task, model = query.get("task", ""), query.get("model", "")
    kind = site.task(run, task)
    site.model(run, model)
    metric = site.primary_metric(run, task)
    samples = Samples(site.store, run["id"], task, model, site.per_item(run, task, metric))
    filter_ = Filter() if site.links.bundle else Filter.from_query(query)
    total = samples.count(filter_)
    kept, pages = kept_pages(site, total)
    number = page_number(query.get("page"), kept)
    scored = samples.scored(filter_)
    seed = run["provenance"].get("seed", 0)
    estimate = kind.estimate(metric, scored, seed) if scored and metric else None
    return site.render("samples.html", title=f"{task} · {model}", run=run, task=task, model=model, metric=metric,
                       item_metric=samples.metric,
                       filter=filter_, total=total, all_items=samples.count(), page=number, pages=kept, all_pages=pages,
                       records=[shown_record(clipped(site, r)) for r in samples.page(filter_, number)],
                       estimate=estimate_text(estimate) if scored else "no items", fields=samples.fields(),
                       partners=diff_partners(site, run, model))


def comparison(site: Site, run: dict[str, Any], pairs: Pairs, filter_: Filter,
               metric: str | None = None) -> dict[str, Any] | None:
    """The paired difference a − b in `metric` (default: the per-item one) over the filtered items, by the
    leaderboard's own comparison."""
    metric = metric or pairs.metric
    if metric is None:
        return None
    side_a, side_b = pairs.scored(filter_)
    if not side_a:
        return None
    sides = {pairs.model_a: side_a, pairs.model_b: side_b}
    rows = comparison_rows(site.store, run, {pairs.task: [metric]}, [(pairs.model_a, pairs.model_b)],
                           records=lambda model, task: sides[model])
    if not rows:
        return None
    row = rows[0]
    return {**row, "text": f"{fmt(row['diff'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]",
            "p": p_text(row["p_value"], p_resolution(row["test"]))}


def diff_page(site: Site, query: dict[str, str]) -> str:
    run = site.run(query.get("run"))
    task, model_a, model_b = query.get("task", ""), query.get("a", ""), query.get("b", "")
    site.task(run, task)
    site.model(run, model_a)
    site.model(run, model_b)
    if model_a == model_b:
        raise NotFound(f"a diff compares two models; both sides are {model_a!r}")
    metric = site.primary_metric(run, task)
    pairs = Pairs(site.store, run["id"], task, model_a, model_b, site.per_item(run, task, metric))
    filter_ = Filter(split="disagree" if pairs.metric else "all") if site.links.bundle else Filter.from_query(query)
    total = pairs.count(filter_)
    kept, pages = kept_pages(site, total)
    number = page_number(query.get("page"), kept)
    items = []
    for record_a, record_b in pairs.page(filter_, number):
        record_a, record_b = clipped(site, record_a), clipped(site, record_b)
        text_a, text_b = marked(record_a["response"], record_b["response"])
        items.append({"a": shown_record(record_a), "b": shown_record(record_b), "text_a": text_a, "text_b": text_b})
    return site.render("diff.html", title=f"{task} · {model_a} vs {model_b}", run=run, task=task, model_a=model_a,
                       model_b=model_b, metric=metric, item_metric=pairs.metric, filter=filter_, total=total,
                       all_items=pairs.count(), page=number, pages=kept, all_pages=pages, items=items,
                       stats=comparison(site, run, pairs, filter_, metric),
                       fields=Samples(site.store, run["id"], task, model_a, None).fields())
