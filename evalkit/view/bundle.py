"""`evalkit view --bundle DIR`: the view's pages as static files, to attach to a pull request or host.

The same page functions as the server, with file links. A bundle cannot filter, so it holds each
model's samples unfiltered and the leaderboard's comparisons as diffs on the items where one model is
right and the other wrong; of each, the first BUNDLE_PAGES pages, each text cut after BUNDLE_CHARS
characters (the server shows everything). Every page still states its numbers over all the items it
selects, not over what it keeps.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalkit.judge.verdicts import judged_pairs
from evalkit.report import leaderboard
from evalkit.report.console import ConsoleUI
from evalkit.store import Store
from evalkit.view import items, queries, verdicts
from evalkit.view.answers import answer_pairs, answers_page
from evalkit.view.links import Links
from evalkit.view.site import STATIC, Site

BUNDLE_PAGES = 4
BUNDLE_CHARS = 800  # of each prompt, response and target: a news article or a 5-shot prompt runs to thousands


@dataclass
class Written:
    pages: int
    bytes: int


Job = tuple[str, dict[str, object], Callable[[Site, dict[str, str]], str]]


def _pages(name: str, params: dict[str, object], build, count: int) -> list[Job]:
    return [(name, {**params, "page": n}, build) for n in range(1, count + 1)]


def jobs(site: Site) -> list[Job]:
    """Every page of the bundle: (name, params, builder)."""
    found: list[Job] = [("runs", {}, lambda s, q: s.runs_page()), ("judge", {}, verdicts.judge_page)]
    for run in site.store.list_runs():
        run = site.run(run["id"])
        found.append(("run", {"run": run["id"]}, lambda s, q: s.run_page(q["run"])))
        models = leaderboard.model_order(run)
        for task in run["provenance"].get("tasks", {}):
            metric = site.per_item(run, task, site.primary_metric(run, task))
            for model in models:
                total = queries.Samples(site.store, run["id"], task, model, metric).count()
                found += _pages("samples", {"run": run["id"], "task": task, "model": model}, items.samples_page,
                                min(queries.page_count(total), BUNDLE_PAGES))
            for a, b in leaderboard.comparison_pairs(models):
                split = queries.Filter(split="disagree" if metric else "all")
                total = queries.Pairs(site.store, run["id"], task, a, b, metric).count(split)
                found += _pages("diff", {"run": run["id"], "task": task, "a": a, "b": b}, items.diff_page,
                                min(queries.page_count(total), BUNDLE_PAGES))
    for p in answer_pairs(site):
        size = queries.page_count(p["n"])
        found += _pages("answers", {"set": p["prompt_set"], "a": p["a"], "b": p["b"]}, answers_page,
                        min(size, BUNDLE_PAGES))
    for p in judged_pairs(site.store):
        found.append(("verdict", {"judge": p.judge, "set": p.prompt_set, "prompt": p.prompt_id, "a": p.model_a,
                                  "b": p.model_b}, verdicts.verdict_page))
    return found


def write_bundle(store: Store, out: Path) -> Written:
    site = Site(store, links=Links(bundle=True), max_pages=BUNDLE_PAGES, max_chars=BUNDLE_CHARS)
    out.mkdir(parents=True, exist_ok=True)
    (out / "static").mkdir(exist_ok=True)
    shutil.copy(STATIC / "view.css", out / "static" / "view.css")
    todo = jobs(site)
    with ConsoleUI().progress("writing the bundle") as update:
        for done, (name, params, build) in enumerate(todo, 1):
            query = {k: str(v) for k, v in params.items()}
            (out / site.links.page(name, **params)).write_text(build(site, query), encoding="utf-8")
            update(done, len(todo))
    _copy_plots(site, out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return Written(len(todo), size)


def _copy_plots(site: Site, out: Path) -> None:
    (out / "plots").mkdir(exist_ok=True)
    for folder in site.plots_dir.glob("run-*"):
        run_id = int(folder.name.split("-", 1)[1])
        for png in folder.glob("*.png"):
            shutil.copy(png, out / site.links.plot(run_id, png.name))
