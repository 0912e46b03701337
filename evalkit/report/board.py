"""What one leaderboard shows: for each model × task, the latest finished result in the store.

Running a second suite (`--suite wikitext`) adds its columns to the comparison instead of replacing
it; every cell remembers the run it came from, so the page can say which run and when. `--run N`
builds the same view from that one run alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from evalkit.kinds import KINDS, TaskKind
from evalkit.store import Store


@dataclass
class Board:
    runs: dict[int, dict[str, Any]]  # the runs whose results are shown, by id (ascending)
    models: list[str]  # in the order of the earliest run that has them: base, sft, dpo stay in lineage order
    results: list[dict[str, Any]]  # store result rows, each with its "run" id
    source: dict[tuple[str, str], int]  # (model, task) → the run its results come from
    single_run: bool  # every shown result comes from one run (`--run N`, or a store with one run in use)
    _records: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def latest(self) -> dict[str, Any]:
        return self.runs[max(self.runs)]

    def task_info(self, task: str, model: str | None = None) -> dict[str, Any]:
        """The task's provenance in the run a model's result comes from (default: the latest run with it)."""
        if model is not None and (model, task) in self.source:
            return self.runs[self.source[(model, task)]]["provenance"]["tasks"][task]
        return self.tasks()[task]

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Every shown task's provenance, in the order the runs first ran them, from the latest run with it."""
        merged: dict[str, dict[str, Any]] = {}
        for run_id in sorted(self.runs):
            merged.update(self.runs[run_id]["provenance"].get("tasks", {}))
        return merged

    def kind(self, task: str) -> TaskKind:
        return KINDS[self.task_info(task)["kind"]]

    def records(self, store: Store, model: str, task: str) -> list[dict[str, Any]]:
        key = (model, task)
        if key not in self._records:
            self._records[key] = store.samples(self.source[key], model, task) if key in self.source else []
        return self._records[key]

    def same_items(self, task: str, a: str, b: str) -> bool:
        """Whether two models' results on a task come from the same task version, data and options."""
        def identity(info):
            return info["version"], info.get("data_hash"), repr(sorted(info.get("options", {}).items()))

        return identity(self.task_info(task, a)) == identity(self.task_info(task, b))

    def as_run(self) -> dict[str, Any]:
        """A run-shaped view for the feature sections: the latest run's provenance, with every shown
        model's and task's entry from the run its results come from."""
        latest = self.latest
        models: dict[str, Any] = {}
        for run_id in sorted(self.runs):
            models.update(self.runs[run_id]["provenance"].get("models", {}))
        provenance = {**latest["provenance"], "models": {m: models[m] for m in self.models if m in models},
                      "tasks": self.tasks()}
        return {**latest, "config": {**latest["config"], "models": self.models}, "provenance": provenance}


def when(run: dict[str, Any]) -> str:
    stamp = run["finished"] or run["started"]
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def run_ids(store: Store, status: str | None = None) -> list[int]:
    query = "SELECT id FROM runs" + (" WHERE status=?" if status else "") + " ORDER BY id"
    return [row[0] for row in store.db.execute(query, (status,) if status else ())]


def missing_run_message(store: Store, run_id: int | None) -> str:
    if run_id is None:
        return "no finished run in the store yet; run `evalkit run` first"
    known = run_ids(store)
    listing = ", ".join(str(r) for r in known) if known else "none yet; run `evalkit run` first"
    return f"no run {run_id} in the store; runs there: {listing} (`evalkit runs` lists them)"


def one_run(store: Store, run_id: int) -> Board:
    run = store.run(run_id)
    if run is None:
        raise LookupError(missing_run_message(store, run_id))
    results = [{**r, "run": run["id"]} for r in store.results(run["id"])]
    return Board({run["id"]: run}, list(run["config"].get("models", [])), results,
                 {(r["model"], r["task"]): run["id"] for r in results}, single_run=True)


def latest_results(store: Store) -> Board:
    """Every finished run's results, the newest run winning for each model × task."""
    runs = {run_id: store.run(run_id) for run_id in run_ids(store, "finished")}
    if not runs:
        raise LookupError(missing_run_message(store, None))
    source: dict[tuple[str, str], int] = {}
    by_run: dict[int, list[dict[str, Any]]] = {}
    for run_id in sorted(runs, reverse=True):
        by_run[run_id] = store.results(run_id)
        for r in by_run[run_id]:
            source.setdefault((r["model"], r["task"]), run_id)
    if not source:  # finished runs without results (a judge-only project): the latest one, as before
        return one_run(store, max(runs))
    results = [{**r, "run": run_id} for run_id in sorted(by_run) for r in by_run[run_id]
               if source[(r["model"], r["task"])] == run_id]
    used = {run_id: runs[run_id] for run_id in sorted(set(source.values()))}
    shown = {model for model, _ in source}
    models: list[str] = []
    for run_id in sorted(runs):  # every finished run's order, oldest first: a rerun of sft keeps it after base
        models += [m for m in runs[run_id]["config"].get("models", []) if m in shown and m not in models]
    models += sorted(shown - set(models))  # results of a model its run's config does not list
    return Board(used, models, results, source, single_run=len(used) == 1)  # one run reads as `--run N`


def build(store: Store, run_id: int | None = None) -> Board:
    return one_run(store, run_id) if run_id is not None else latest_results(store)
