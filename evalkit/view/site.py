"""The pages of `evalkit view` as functions of the store: runs, a run's leaderboard and provenance.
The item pages (samples, diff) are in items.py, the judge's verdicts in verdicts.py; the server
(app.py) and the static bundle (bundle.py) both call these.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from evalkit import __version__
from evalkit.kinds import KINDS, TaskKind
from evalkit.report import leaderboard
from evalkit.report.board import missing_run_message
from evalkit.store import Store
from evalkit.view.links import Links
from evalkit.view.queries import score_path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s/]+\.png)\)")


class NotFound(LookupError):
    """A URL naming a run, task or model the store does not hold; the page says which and what there is."""


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda stamp: "–" if not stamp else dt.datetime.fromtimestamp(
        stamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return env


@dataclass
class Site:
    store: Store
    links: Links = field(default_factory=Links)
    votes_enabled: bool = False
    max_pages: int | None = None  # a bundle keeps the first pages of each list of items
    max_chars: int | None = None  # ... and the start of each long text
    plots_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="evalkit-view-")))
    env: Environment = field(default_factory=environment)
    _boards: dict[tuple, str] = field(default_factory=dict)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(links=self.links, version=__version__,
                                                      votes_enabled=self.votes_enabled,
                                                      bundle=self.links.bundle, **context)

    # -- lookups that turn a bad URL into a clear page ---------------------------------------------
    def run(self, run_id: Any) -> dict[str, Any]:
        try:
            number = int(run_id)
        except (TypeError, ValueError):
            raise NotFound(f"run {run_id!r} is not a run number; the runs page lists the runs") from None
        run = self.store.run(number)
        if run is None:
            raise NotFound(missing_run_message(self.store, number))
        return run

    def task(self, run: dict[str, Any], task: str) -> TaskKind:
        tasks = run["provenance"].get("tasks", {})
        if task not in tasks:
            raise NotFound(f"run {run['id']} has no task {task!r}; its tasks: {', '.join(tasks) or 'none'}")
        return KINDS[tasks[task]["kind"]]

    def model(self, run: dict[str, Any], model: str) -> str:
        models = leaderboard.model_order(run)
        if model not in models:
            raise NotFound(f"run {run['id']} has no model {model!r}; its models: {', '.join(models) or 'none'}")
        return model

    def primary_metric(self, run: dict[str, Any], task: str) -> str | None:
        metrics = leaderboard.primary_metrics(run, [r for r in self.store.results(run["id"]) if r["task"] == task])
        return (metrics.get(task) or [None])[0]

    def per_item(self, run: dict[str, Any], task: str, metric: str | None) -> str | None:
        """`metric` when the records hold it item by item (what "wrong" and a diff's right/wrong read);
        None for a corpus metric such as perplexity, which exists only over many items."""
        if metric is None:
            return None
        found = self.store.db.execute(
            "SELECT 1 FROM samples WHERE run_id=? AND task=? AND json_type(scores, ?) IN ('integer', 'real') LIMIT 1",
            (run["id"], task, score_path(metric))).fetchone()
        return metric if found else None

    # -- pages -------------------------------------------------------------------------------------
    def runs_page(self) -> str:
        runs = self.store.list_runs()
        for run in runs:
            run["models"] = run["config"].get("models", [])
            run["suite"] = run["config"].get("suite", "")
        return self.render("runs.html", title="Runs", runs=list(reversed(runs)), store=self.store.path)

    def run_page(self, run_id: Any) -> str:
        run = self.run(run_id)
        models = leaderboard.model_order(run)
        tasks = list(run["provenance"].get("tasks", {}))
        pairs = leaderboard.comparison_pairs(models)
        return self.render("run.html", title=f"Run {run['id']}", run=run, models=models, tasks=tasks, pairs=pairs,
                           board=self.leaderboard_html(run))

    def leaderboard_html(self, run: dict[str, Any]) -> Markup:
        """The run's leaderboard.md as HTML, its plots written beside it; redrawn when votes or verdicts change."""
        key = (run["id"], run["status"], self._store_state(run["id"]))
        if key not in self._boards:
            folder = self.plots_dir / f"run-{run['id']}"
            folder.mkdir(parents=True, exist_ok=True)
            try:
                text = leaderboard.render(self.store, run["id"], folder)
            except LookupError as err:
                text = f"No leaderboard for this run: {err}"
            text = re.sub(r"^(#{1,5}) ", r"#\1 ", text, flags=re.M)  # under the page's own heading
            text = _IMAGE.sub(lambda m: f"![{m.group(1)}]({self.links.plot(run['id'], m.group(2))})", text)
            self._boards = {k: v for k, v in self._boards.items() if k[0] != run["id"]}  # one per run, the latest
            self._boards[key] = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
        return Markup(self._boards[key])

    def _store_state(self, run_id: int) -> tuple:
        """What changes a run's leaderboard: results of a run still running, votes cast or undone, judgments."""
        results = self.store.db.execute("SELECT COUNT(*) FROM results WHERE run_id=?", (run_id,)).fetchone()
        votes = self.store.db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(undone), 0) "
                                      "FROM votes").fetchone()
        judged = self.store.db.execute("SELECT COUNT(*), COALESCE(MAX(created), 0) FROM judgments").fetchone()
        return tuple(results) + tuple(votes) + tuple(judged)

    def plot_path(self, run_id: Any, name: str) -> Path:
        run = self.run(run_id)
        self.leaderboard_html(run)  # draws the plots when this process has not yet
        path = self.plots_dir / f"run-{run['id']}" / name
        if "/" in name or not name.endswith(".png") or not path.is_file():
            raise NotFound(f"run {run['id']} has no plot {name!r}")
        return path
