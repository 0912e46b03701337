"""evalkit from Python: run an evaluation, read any run back as pandas DataFrames.

    import evalkit
    results = evalkit.evaluate(models=["base", "./out/checkpoint-500"], tasks=["mmlu", "gsm8k"], limit=50)
    results.to_pandas()            # model × task × metric: value, ci_low, ci_high, n, unscored, ...
    results.samples()              # one row per item and model: prompt, response, target, score.*
    results.compare("sft", "base") # paired differences on the same items, with intervals and p-values
    results.slices("subject")      # per slice: each model's metrics, and the paired comparisons per slice
    results.formats()              # per prompt format (--formats): each model's metric, spread, comparisons
    results.token_frequency()      # perplexity tasks: log-likelihood per token, rare vs common tokens
    evalkit.open_store(".evalkit/evalkit.db").runs()

`evaluate` runs exactly what `evalkit run` runs (same config, store, cache and provenance).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.kinds import KINDS
from evalkit.report import leaderboard
from evalkit.report.board import build
from evalkit.report.format_frames import format_comparisons, format_results
from evalkit.report.format_frames import plan as format_plan
from evalkit.report.frames import comparison_rows, comparisons_frame, results_frame, samples_frame
from evalkit.report.frequency_section import frequency_frame
from evalkit.report.slice_frames import plan, slice_comparisons, slice_results
from evalkit.report.slices import parse_fields
from evalkit.run.command import RunRequest, run_request
from evalkit.store import Store


@dataclass
class Results:
    """One finished run in a store."""

    store: Store
    run_id: int

    @functools.cached_property
    def run(self) -> dict[str, Any]:
        return self.store.run(self.run_id)  # a finished run does not change: read it once

    @property
    def models(self) -> list[str]:
        return leaderboard.model_order(self.run)

    @property
    def provenance(self) -> dict[str, Any]:
        return self.run["provenance"]

    def to_pandas(self) -> pd.DataFrame:
        return results_frame(self.run, self.store.results(self.run_id))

    def samples(self, model: str | None = None, task: str | None = None) -> pd.DataFrame:
        return samples_frame(self.store, self.run_id, model, task)

    def compare(self, model_a: str, model_b: str, metrics: str = "primary") -> pd.DataFrame:
        """model_a − model_b on the items both were scored on, per task and metric ("primary" or "all")."""
        for name in (model_a, model_b):
            if name not in self.models:
                raise EvalkitError(f"run {self.run_id} has no model {name!r}; its models: {', '.join(self.models)}")
        run, results = self.run, self.store.results(self.run_id)
        chosen = leaderboard.primary_metrics(run, results) if metrics == "primary" else {
            task: list(dict.fromkeys(r["metric"] for r in results if r["task"] == task))
            for task in run["provenance"].get("tasks", {})}
        return comparisons_frame(comparison_rows(self.store, run, chosen, [(model_a, model_b)]))

    def slices(self, fields: Sequence[str] | str = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(metrics, comparisons) per slice of the primary metrics, for the tasks' declared slices and
        `fields` ("subject", "prompt_length", ...): the frames the leaderboard's Slices section shows."""
        board = build(self.store, self.run_id)
        chosen = plan(self.store, board, leaderboard.primary_metrics(self.run, board.results),
                      parse_fields(fields) if isinstance(fields, str) else list(fields))
        pairs = leaderboard.comparison_pairs(board.models)
        return slice_results(self.store, board, chosen.parts), slice_comparisons(self.store, board, chosen.parts, pairs)

    def formats(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(metrics, comparisons) per prompt format of a run with `formats`: each model × task × format on
        the format's headline metric with n, interval and `spread` (the model's highest minus lowest value
        across the task's formats), and the paired comparisons per format, `sign_depends` marking a pair
        ahead in one format and behind in another: the frames the Format sensitivity section shows."""
        board = build(self.store, self.run_id)
        parts = [p for p in format_plan(board) if p.rows]
        pairs = leaderboard.comparison_pairs(board.models)
        return format_results(board, parts), format_comparisons(self.store, board, parts, pairs)

    def token_frequency(self) -> pd.DataFrame:
        """Each perplexity task's mean log-likelihood per token by token-frequency bucket, per model."""
        board = build(self.store, self.run_id)
        tasks = [t for t, info in self.run["provenance"].get("tasks", {}).items()
                 if info["kind"] in KINDS and KINDS[info["kind"]].token_level]
        return frequency_frame(self.store, board, tasks)

    def leaderboard(self, reports_dir: str | Path = "reports", slice_by: Sequence[str] = ()) -> Path:
        return leaderboard.write(self.store, Path(reports_dir), self.run_id, slice_by)


def evaluate(models: Sequence[str] | str | None = None, tasks: Sequence[str] | str | None = None, *,
             suite: str | None = None, limit: int | None = None, num_fewshot: int | None = None,
             seed: int | None = None, batch_size: int | None = None, dtype: str | None = None,
             device: str | None = None, slice_by: Sequence[str] | str | None = None,
             formats: Sequence[str] | str | None = None, config: str | Path | None = None,
             quiet: bool = True) -> Results:
    """Evaluate `models` (configured names or sources) on `tasks` (or a suite); returns the run's Results."""
    request = RunRequest(config=config, models=_joined(models), suite=suite, tasks=_joined(tasks), limit=limit,
                         num_fewshot=num_fewshot, seed=seed, batch_size=batch_size, dtype=dtype, device=device,
                         slice_by=_joined(slice_by), formats=_joined(formats), quiet=quiet)
    _, store, run_id, _ = run_request(request)
    if run_id is None:
        raise EvalkitError("this process is not the main rank of a data-parallel launch; read results on rank 0")
    return Results(store, run_id)


def _joined(names: Sequence[str] | str | None) -> str | None:
    if names is None or isinstance(names, str):
        return names
    return ",".join(names)


@dataclass
class StoreReader:
    store: Store

    def runs(self) -> pd.DataFrame:
        rows = self.store.db.execute("SELECT id, started, finished, status, config FROM runs ORDER BY id").fetchall()
        frame = pd.DataFrame(rows, columns=["run", "started", "finished", "status", "config"])
        frame["started"] = pd.to_datetime(frame["started"], unit="s")
        frame["finished"] = pd.to_datetime(frame["finished"], unit="s")
        return frame.drop(columns="config")

    def results(self, run_id: int | None = None) -> Results:
        """A run by id, or the latest finished one."""
        run = self.store.run(run_id)
        if run is None:
            known = ", ".join(str(r) for r in self.runs()["run"]) or "none"
            raise EvalkitError(f"no {'run ' + str(run_id) if run_id is not None else 'finished run'} in "
                               f"{self.store.path}; runs there: {known}")
        return Results(self.store, run["id"])


def open_store(path: str | Path) -> StoreReader:
    path = Path(path)
    if not path.is_file():
        raise EvalkitError(f"no store at {path}; a project's store is `store` in its evalkit.toml "
                           f"(default .evalkit/evalkit.db)")
    return StoreReader(Store(path))


__all__ = ["Results", "StoreReader", "evaluate", "open_store"]
